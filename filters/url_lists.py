"""The lists the URL filter reads: block lists in UT1's layout and the URL word lists.

**Block lists.** UT1 (Université Toulouse 1 Capitole's web-filtering lists, what RefinedWeb and FineWeb
filter with) is a folder per category, each with a ``domains`` file (one host per line; an entry also
covers its subdomains) and a ``urls`` file (``host/path`` per line). Either file may be gzipped
(``domains.gz``) or in the hashed form this module writes (``domains.hashes.npz``). Entries are normalized
like the URLs they are compared with (``filters.urls``) and kept as a sorted array of 40-bit xxh3 keys
(``KeySet``): 8 bytes an entry in memory instead of ~100 for a Python set of strings, so UT1's 4.6M adult
domains take 36 MB per worker, and a batch of URLs is looked up with one ``np.searchsorted``. Two
different names share a 40-bit key with probability ``entries / 2**40`` per lookup: 4e-6 for the adult
list, so about one host in 60,000 could be dropped by a collision (a host is looked up under ~4 names:
itself and its parents). No collision was found among 134k real URLs (``bench/url_bench.py``).

The hashed file stores each key as the count of keys in its top-24-bit bucket plus its low 16 bits:
12 MB for the adult list (its gzipped text is 17.6 MB), which is how the project ships that category
(``filters/blocklists/``, built by ``bench/build_url_blocklist.py``; CC BY-SA 4.0, attribution there).

**Word lists** (FineWeb's ``banned_words``, ``banned_subwords``, ``soft_banned_words``): one entry per line,
a line starting with ``#`` is switched off, entries compared squashed (``filters.urls.squash``), as
datatrove does.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xxhash

from filters.urls import normalize_host, split_url, squash, url_key
from schemas.files import read_bytes

KEY_BITS = 40
_SHIFT = np.uint64(64 - KEY_BITS)
_LOW_BITS = 16
_BUCKETS = 1 << (KEY_BITS - _LOW_BITS)

#: The block lists and word lists the project ships (``filters/blocklists/README.md``).
SHIPPED = Path(__file__).resolve().parent / "blocklists"
SHIPPED_UT1 = SHIPPED / "ut1"
SHIPPED_NAME = "shipped"  # how a recipe names SHIPPED_UT1 among its block-list folders


def folder(name: str) -> str:
    """A recipe's block-list folder: ``shipped`` is the project's own, anything else a path."""
    return str(SHIPPED_UT1) if name == SHIPPED_NAME else name


def key(name: str) -> int:
    """The 40-bit key of a normalized host or URL entry."""
    return xxhash.xxh3_64_intdigest(name.encode("utf-8", "surrogatepass")) >> (64 - KEY_BITS)


def keys(names) -> np.ndarray:
    """Keys of many names, as uint64."""
    return np.fromiter((xxhash.xxh3_64_intdigest(n.encode("utf-8", "surrogatepass")) for n in names),
                       dtype=np.uint64) >> _SHIFT


class KeySet:
    """A set of 40-bit keys as sorted arrays: membership of a whole batch in one ``np.searchsorted`` per
    array. A union keeps its parts (merging 4.6M keys with a few hundred would re-sort them all)."""

    def __init__(self, values: np.ndarray | None = None, *, parts: tuple[np.ndarray, ...] | None = None):
        if parts is None:
            values = np.zeros(0, dtype=np.uint64) if values is None else np.asarray(values, dtype=np.uint64)
            parts = (np.unique(values),)
        self.parts = tuple(p for p in parts if p.size)

    @classmethod
    def sorted(cls, values: np.ndarray) -> KeySet:
        """From keys already sorted and distinct (a hashed file): no sort at load."""
        return cls(parts=(values,))

    @classmethod
    def union(cls, sets: list[KeySet]) -> KeySet:
        return cls(parts=tuple(p for s in sets for p in s.parts))

    def __len__(self) -> int:
        return sum(int(p.size) for p in self.parts)

    @property
    def nbytes(self) -> int:
        return sum(int(p.nbytes) for p in self.parts)

    def contains(self, queries: np.ndarray) -> np.ndarray:
        """A bool per query key."""
        found = np.zeros(queries.size, dtype=bool)
        for values in self.parts:
            at = np.searchsorted(values, queries)
            at[at == values.size] = 0
            found |= values[at] == queries
        return found

    def __contains__(self, name: str) -> bool:
        return bool(self.contains(np.array([key(name)], dtype=np.uint64))[0])


def write_hashed(values: np.ndarray, path: str | Path) -> None:
    """Save keys in the compact hashed form (see the module doc)."""
    values = np.unique(np.asarray(values, dtype=np.uint64))
    counts = np.bincount((values >> np.uint64(_LOW_BITS)).astype(np.int64), minlength=_BUCKETS)
    if counts.max(initial=0) > 255:
        raise ValueError("more than 255 keys in one bucket: too many entries for the hashed form")
    low = (values & np.uint64((1 << _LOW_BITS) - 1)).astype(np.uint16)
    arrays = {"key_bits": np.array([KEY_BITS], dtype=np.int64), "counts": counts.astype(np.uint8), "low": low}
    # np.savez_compressed stamps each member with the current time; a fixed one keeps rebuilds byte-identical.
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            member = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            member.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(member, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, array, allow_pickle=False)


def read_hashed(data: bytes) -> np.ndarray:
    """The keys of a hashed file's bytes."""
    with np.load(io.BytesIO(data)) as npz:
        if int(npz["key_bits"][0]) != KEY_BITS:
            raise ValueError(f"hashed list has {int(npz['key_bits'][0])}-bit keys, this version reads {KEY_BITS}")
        counts, low = npz["counts"], npz["low"]
    buckets = np.flatnonzero(counts)
    high = np.repeat(buckets.astype(np.uint64), counts[buckets])
    return (high << np.uint64(_LOW_BITS)) | low.astype(np.uint64)


def _exists(path: str) -> bool:
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.exists(path)


def read_entries(path: str) -> list[str]:
    """The entries of a list file (one per line; blank lines and lines starting with ``#`` left out), plain
    or compressed, at any FileSystems path."""
    text = read_bytes(path).decode("utf-8", "replace")
    return [line for line in (raw.strip() for raw in text.splitlines()) if line and not line.startswith("#")]


def _join(folder: str, *parts: str) -> str:
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.join(folder, *parts)


@dataclass
class Blocklist:
    """The keys of some UT1 categories: their domains, their URL entries, and the hosts those URL entries
    are on (a URL is looked up under its paths only when its host has URL entries: ~19k hosts of 4.6M)."""

    domains: KeySet
    urls: KeySet
    url_hosts: KeySet | None  # None: not known (a hashed urls file alone), look every URL up


def _hashed(base: str) -> KeySet | None:
    path = base + ".hashes.npz"
    return KeySet.sorted(read_hashed(read_bytes(path))) if _exists(path) else None


def _plain(base: str) -> list[str] | None:
    """The entries of ``base`` or ``base.gz``; None when neither exists."""
    for path in (base, base + ".gz"):
        if _exists(path):
            return read_entries(path)
    return None


def _url_host(entry: str) -> str:
    return split_url(entry)[0]


def category(folder: str, name: str) -> Blocklist | None:
    """One category of a UT1-layout folder (``domains`` and ``urls``, plain, gzipped or hashed); None when
    it has neither. A hashed ``urls`` comes with ``urls.hosts.hashes.npz``, the keys of its hosts; a plain
    one gives its hosts from the same lines."""
    base = _join(folder, name)
    domains = _hashed(_join(base, "domains"))
    if domains is None and (entries := _plain(_join(base, "domains"))) is not None:
        domains = KeySet(keys(normalize_host(e) for e in entries))
    urls = _hashed(_join(base, "urls"))
    hosts = _hashed(_join(base, "urls.hosts")) if urls is not None else None
    if urls is None and (entries := _plain(_join(base, "urls"))) is not None:
        urls, hosts = KeySet(keys(url_key(e) for e in entries)), KeySet(keys(_url_host(e) for e in entries))
    if domains is None and urls is None:
        return None
    # A hashed urls file without its hosts: every URL is looked up under its paths (slower, same answer).
    return Blocklist(domains or KeySet(), urls or KeySet(), hosts if urls is not None else KeySet())


def blocklist(folders: list[str], categories: list[str]) -> Blocklist:
    """The named categories of UT1-layout folders, together (a category in several folders: all of them);
    a category in none is an error naming the folders and the categories they have."""
    found = []
    for name in categories:
        parts = [part for folder in folders if (part := category(folder, name)) is not None]
        if not parts:
            there = "; ".join(f"{folder}: {_categories(folder)}" for folder in folders)
            raise ValueError(f"url.categories: no {name!r} in {', '.join(folders)} (want {name}/domains or "
                             f"{name}/urls, plain, .gz or .hashes.npz); categories there: {there}")
        found.extend(parts)
    hosts = [b.url_hosts for b in found]
    return Blocklist(KeySet.union([b.domains for b in found]), KeySet.union([b.urls for b in found]),
                     None if None in hosts else KeySet.union(hosts))


def _categories(folder: str) -> str:
    path = Path(folder)
    if not path.is_dir():
        return "(not a local folder)"
    return ", ".join(sorted(p.name for p in path.iterdir() if p.is_dir())) or "(none)"


def word_list(path: str) -> frozenset[str]:
    """A URL word list: entries squashed, ``#`` lines switched off (datatrove's reading of the same files)."""
    return frozenset(w for w in map(squash, read_entries(path)) if w)


def domain_list(entries: list[str]) -> frozenset[str]:
    """Normalized domains from recipe entries: a domain (``wikipedia.org``), a file of domains (one per
    line, ``#`` comments), or the name of a list shipped in ``filters/blocklists/`` (``refinedweb``)."""
    domains: set[str] = set()
    for entry in entries:
        shipped = SHIPPED / f"{entry}.txt"
        if "." not in entry and "/" not in entry and shipped.exists():
            lines = read_entries(str(shipped))
        elif "/" in entry or entry.endswith(".txt") or entry.endswith(".gz"):
            lines = read_entries(entry)
        else:
            lines = [entry]
        domains.update(normalize_host(line) for line in lines)
    return frozenset(d for d in domains if d)
