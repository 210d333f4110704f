"""Rebuild the block lists and URL word lists the URL filter ships, ``filters/blocklists/``, from ``../shared/data/urls``.

    python bench/build_url_blocklist.py        # ~10 s; prints the entry counts and file sizes

* ``ut1/adult`` and ``ut1/agressif`` (``domains``, ``urls`` and the hosts of the urls): exactly the list FineWeb filtered with (datatrove 0.10.1's bundled
  UT1 snapshot of 2024-12-02, adult + agressif), split back into UT1's two categories: ``agressif`` is UT1's
  own agressif folder of the same snapshot, ``adult`` is datatrove's list without those 358 domains (12 of
  them are in both categories upstream; they stay blocked under ``agressif``). Stored hashed
  (``filters.url_lists.write_hashed``): the adult domain list is 17.6 MB gzipped, more than a sample, and
  the hashed form (12 MB) is all the filter needs. Licence: CC BY-SA 4.0, attribution in the README there.
* ``url_words/``: FineWeb's banned, soft-banned and subword lists as datatrove ships them (Apache-2.0),
  copied unchanged with datatrove's licence.

Deterministic: the same inputs give the same bytes (sorted unique keys, no timestamps in the archives).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from filters import url_lists  # noqa: E402
from filters.urls import normalize_host, split_url, url_key  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "urls"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--out", type=Path, default=url_lists.SHIPPED)
    args = parser.parse_args()

    datatrove = args.shared / "ut1" / "datatrove-0.10.1"
    olbat = args.shared / "ut1" / "olbat-ea5eb89"
    agressif_domains = {normalize_host(d) for d in url_lists.read_entries(str(olbat / "agressif" / "domains.gz"))}
    agressif_urls = {url_key(u) for u in url_lists.read_entries(str(olbat / "agressif" / "urls.gz"))}
    all_domains = {normalize_host(d) for d in url_lists.read_entries(str(datatrove / "domains.gz"))}
    all_urls = {url_key(u) for u in url_lists.read_entries(str(datatrove / "urls.gz"))}
    categories = {
        "adult": (all_domains - agressif_domains, all_urls - agressif_urls),
        "agressif": (agressif_domains, agressif_urls),
    }
    for category, (domains, urls) in categories.items():
        folder = args.out / "ut1" / category
        folder.mkdir(parents=True, exist_ok=True)
        hosts = {split_url(u)[0] for u in urls}
        for kind, names in (("domains", domains), ("urls", urls), ("urls.hosts", hosts)):
            path = folder / f"{kind}.hashes.npz"
            url_lists.write_hashed(url_lists.keys(sorted(names)), path)
            print(f"ut1/{category}/{kind}: {len(names):,} entries, {path.stat().st_size / 1e6:.2f} MB")

    words = args.out / "url_words"
    words.mkdir(parents=True, exist_ok=True)
    for name in ("banned_words.txt", "banned_subwords.txt", "soft_banned_words.txt", "LICENSE.datatrove"):
        shutil.copyfile(args.shared / "url-words" / name, words / name)
    print(f"url_words: {', '.join(sorted(p.name for p in words.iterdir()))}")


if __name__ == "__main__":
    main()
