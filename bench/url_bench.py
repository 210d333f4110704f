"""URL filter: our ``filters.url_filter`` against datatrove's ``URLFilter`` (FineWeb's step) on the same URLs.

    python bench/url_bench.py --datatrove-python /tmp/dtvenv/bin/python [--input bench/out/corpus/1x]
                              [--probes 5000] [--seed 0] [--out bench/out/url.json]

URLs, real ones first:

* ``targets``: the WARC-Target-URI of every record of ../shared/data/warc (the broken files give what
  FastWARC reads before the error; ``<…>`` stripped as the reader does) and of every response of the bench
  corpus (``--input``, bench/build_corpus.py): the URLs the stage really sees;
* ``outlinks``: the absolute ``href`` links in those responses' payloads and the links of the WAT file's
  JSON (its one record is a request's: no links), real URLs of more sites than were crawled;
* ``probes``: real crawl URLs rarely hit the lists, so ``--probes`` entries sampled (seeded) from datatrove's
  own lists (../shared/data/urls/ut1/datatrove-0.10.1: 4/5 from ``domains``, 1/5 from ``urls``), each
  turned into a URL in one spelling a crawl has (https://, ``www.``, upper case, a subdomain or two, a
  page under a listed path, the scheme-less form datatrove's exact match needs); every one names a listed
  site, so "kept" is a miss. The clean real URLs are the negatives.

Reported:

* throughput: URLs per CPU second of ``UrlFilter.score`` in batches of 256 on one core (the real URLs,
  repeated to ``--repeat-to``), and datatrove's ``URLFilter.filter`` on the same URLs in its own venv;
* per worker: the load time of the shipped lists, their bytes (``UrlLists.nbytes``), and the RSS growth of
  loading them (resident after, and the peak while decoding the hashed files), measured in a fresh process;
* agreement: per URL set (and per probe spelling) how many each drops, as both / ours only / datatrove
  only / neither, which rule dropped (ours: the first of the default recipe's rules that fires, in
  datatrove's order; datatrove: its reason) and, for every difference, why, with examples. A domain or URL
  key our filter matched is checked against datatrove's plain lists, so a 40-bit key collision would show.
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "data"
DATATROVE_LISTS = SHARED / "urls" / "ut1" / "datatrove-0.10.1"
HREF = re.compile(rb"""href\s*=\s*["']?(https?://[^"'\s<>]+)""", re.IGNORECASE)
IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")

#: The default recipe's URL rules in datatrove's order, and datatrove's reason for each.
RULES = (("blocklist_domain", 1, ("domain", "subdomain")), ("blocklist_url", 1, ("url",)),
         ("banned_words", 1, ("hard_blacklisted",)), ("soft_banned_words", 2, ("soft_blacklisted",)),
         ("banned_subwords", 1, ("blacklisted_subword",)))
RULE_OF_REASON = {reason: rule for rule, _, reasons in RULES for reason in reasons}

# tldextract would fetch the public suffix list at construction (no network here: a traceback, then its
# bundled snapshot); ask for the snapshot directly. The filter's first call unpacks and reads its lists.
_DATATROVE = """
import json, sys, time
from datatrove.data import Document
from datatrove.pipeline.filters import URLFilter
from tldextract import TLDExtract
urls = json.load(open(sys.argv[1], encoding="utf-8"))
url_filter = URLFilter()
url_filter.tldextractor = TLDExtract(suffix_list_urls=())
start = time.perf_counter()
url_filter.filter(Document(text="", id="warmup", metadata={"url": "https://example.com/"}))
load_s = time.perf_counter() - start
docs = [Document(text="", id=str(i), metadata={"url": u}) for i, u in enumerate(urls)]
start = time.process_time()
results = [url_filter.filter(d) for d in docs]
cpu_s = time.process_time() - start
out = []
for url, result in zip(urls, results):
    info = url_filter.tldextractor(url)
    out.append([None if result is True else result[1], info.registered_domain, info.fqdn])
json.dump({"cpu_s": cpu_s, "load_s": load_s, "results": out}, open(sys.argv[2], "w", encoding="utf-8"))
"""

# Loading in a fresh process: the imports first (Beam's FileSystems, numpy), then the lists alone.
_LOAD = """
import json, resource, time
import psutil
import apache_beam.io.filesystems  # noqa: F401 - read_hashed opens files through it
from filters.url_filter import UrlFilter, load
process = psutil.Process()
rss, peak = process.memory_info().rss, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
start = time.perf_counter()
lists = load(None, ["adult", "agressif"], None, None, None, True, [])
url_filter = UrlFilter(lists)
load_s = time.perf_counter() - start
print(json.dumps({"load_s": load_s, "nbytes": lists.nbytes, "domains": len(lists.domains), "urls": len(lists.urls),
                  "rss_growth": process.memory_info().rss - rss,
                  "peak_growth": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - peak}))
"""


# ---------------------------------------------------------------------------------------------- URLs

def warc_urls(paths: list[Path]) -> tuple[list[str], list[str], list[str]]:
    """(target URIs, outlinks, unreadable files) of WARC files; a broken file gives what was read before."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    targets, links, failed = [], [], []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                for record in ArchiveIterator(handle, parse_http=False):
                    uri = record.headers.get("WARC-Target-URI")
                    if uri is not None:
                        targets.append(uri.strip().strip("<>"))
                    if record.record_type == WarcRecordType.response:
                        payload = record.reader.read()
                        links += [html.unescape(m.decode("utf-8", "replace")) for m in HREF.findall(payload)]
                    elif record.record_type == WarcRecordType.metadata and uri and path.name.endswith(".wat.gz"):
                        envelope = json.loads(record.reader.read()).get("Envelope", {})
                        meta = envelope.get("Payload-Metadata", {}).get("HTTP-Response-Metadata", {})
                        found = meta.get("HTML-Metadata", {}).get("Links", [])
                        links += [link["url"] for link in found if "url" in link]
        except Exception as error:  # noqa: BLE001 - deliberately corrupt test files among them
            failed.append(f"{path.name}: {error}")
    return targets, links, failed


def probe_urls(count: int, seed: int) -> list[tuple[str, str, str]]:
    """(url, spelling, entry) for ``count`` entries of datatrove's lists, one spelling each."""
    rng = random.Random(seed)
    domains = gzip.decompress((DATATROVE_LISTS / "domains.gz").read_bytes()).decode("utf-8").split("\n")
    entries = gzip.decompress((DATATROVE_LISTS / "urls.gz").read_bytes()).decode("utf-8").split("\n")
    probes = []
    for domain in rng.sample(domains, count - count // 5):
        if IPV4.match(domain):
            spelling = rng.choice(["https://", "port"])
        else:
            spelling = rng.choice(["https://", "www.", "UPPER", "sub.", "a.b.", "port"])
        url = {"https://": f"https://{domain}/", "www.": f"https://www.{domain}/",
               "UPPER": f"https://{domain.upper()}/", "sub.": f"https://m.{domain}/",
               "a.b.": f"https://cdn.img.{domain}/page.html", "port": f"http://{domain}:8080/index.html"}[spelling]
        probes.append((url, f"domain {spelling}", domain))
    for entry in rng.sample(entries, count // 5):
        host, _, path = entry.partition("/")
        spelling = rng.choice(["scheme-less", "https://", "www.", "deeper", "UPPER host"])
        url = {"scheme-less": entry, "https://": f"https://{entry}", "www.": f"https://www.{entry}",
               "deeper": f"https://{entry.rstrip('/')}/page-2.html",
               "UPPER host": f"https://{host.upper()}/{path}"}[spelling]
        probes.append((url, f"url {spelling}", entry))
    return probes


# ------------------------------------------------------------------------------------------- measures

def throughput(url_filter, urls: list[str], repeat_to: int, batch: int = 256, runs: int = 3) -> dict:
    pool = (urls * (repeat_to // len(urls) + 1))[:max(repeat_to, len(urls))]
    rates = []
    for _ in range(runs):
        start = time.process_time()
        for at in range(0, len(pool), batch):
            url_filter.score(pool[at:at + batch])
        rates.append(len(pool) / (time.process_time() - start))
    return {"urls": len(pool), "batch": batch, "runs": runs, "urls_per_cpu_s": [round(r) for r in rates],
            "median_urls_per_cpu_s": round(statistics.median(rates)), "best_urls_per_cpu_s": round(max(rates)),
            "us_per_url": round(1e6 / statistics.median(rates), 2)}


def breakdown(url_filter, urls: list[str], repeat_to: int, batch: int = 256, runs: int = 3) -> dict:
    """CPU microseconds per URL of each step ``UrlFilter.score`` takes, run one step at a time on the same
    batches (the least of ``runs`` runs: a shared machine only adds time): where the time goes if the stage
    is short of its budget."""
    from filters.url_filter import _any
    from filters.urls import candidate_domains, split_url

    pool = (urls * (repeat_to // len(urls) + 1))[:max(repeat_to, len(urls))]
    batches = [pool[at:at + batch] for at in range(0, len(pool), batch)]
    lists = url_filter.lists
    parsed = [[split_url(u) for u in b] for b in batches]
    names = [[candidate_domains(h) for h, _ in p] for p in parsed]

    def lookups():
        for p, domains in zip(parsed, names):
            _any(lists.domains, domains)
            _any(lists.url_hosts, [[h] if h else [] for h, _ in p])

    steps = {
        "split_url": lambda: [[split_url(u) for u in b] for b in batches],
        "candidate domains": lambda: [[candidate_domains(h) for h, _ in p] for p in parsed],
        "hash + searchsorted (domains, url hosts)": lookups,
        "words (one automaton per batch)": lambda: [url_filter._words("\n".join(b).lower()) for b in batches],
        "subwords (one automaton per batch)": lambda: [url_filter._subwords("\n".join(b).lower()) for b in batches],
        "whole score()": lambda: [url_filter.score(b) for b in batches],
    }
    spent = {}
    for step, function in steps.items():
        times = []
        for _ in range(runs):
            start = time.process_time()
            function()
            times.append(time.process_time() - start)
        spent[step] = round(1e6 * min(times) / len(pool), 2)
    return {"us_per_url": spent, "note": "least of 3 runs each; the steps sum to more than score() where "
                                         "the machine was busier while they ran"}


def our_reason(score: dict | None) -> str | None:
    if score is None:
        return None
    for rule, threshold, _ in RULES:
        if score[rule] >= threshold:
            return rule
    return None


class Explainer:
    """Why one filter dropped a URL the other kept: the name or key ours matched, checked against datatrove's
    plain lists, and compared with what tldextract made of the URL."""

    def __init__(self, url_filter):
        from filters.urls import candidate_domains, candidate_paths, split_url

        self.filter = url_filter
        self.candidate_domains, self.candidate_paths, self.split_url = candidate_domains, candidate_paths, split_url
        self.domains = self.entries = None

    def _plain(self):
        from filters.urls import url_key

        if self.domains is None:
            self.domains = set(gzip.decompress((DATATROVE_LISTS / "domains.gz").read_bytes()).decode().split("\n"))
            self.entries = {url_key(e) for e in gzip.decompress((DATATROVE_LISTS / "urls.gz").read_bytes())
                            .decode().split("\n")}

    def ours_only(self, url: str, rule: str, registered: str, fqdn: str) -> str:
        self._plain()
        host, path = self.split_url(url)
        if rule == "blocklist_domain":
            matched = [d for d in self.candidate_domains(host) if d in self.filter.lists.domains]
            name = matched[0]
            if name not in self.domains:
                return f"40-bit key collision ({name} is not listed)"
            if IPV4.match(host):
                return ("IP host: tldextract gives an IP no registered domain or fqdn, so datatrove's 6,390 IP "
                        "entries never match")
            if name in (registered.lower(), fqdn.lower()):
                return "upper case host: datatrove looks up tldextract's registered domain / fqdn as written"
            if fqdn.lower().startswith("www.") and name == fqdn.lower()[4:]:
                return "www.: the listed host is below the registered domain and datatrove's fqdn keeps www."
            if fqdn.lower().endswith("." + name) and name != registered.lower():
                return ("listed intermediate domain: datatrove checks only the registered domain and the full host, "
                        "ours every parent")
            return f"other (listed {name}; tldextract: registered {registered!r}, fqdn {fqdn!r})"
        if rule == "blocklist_url":
            matched = [k for k in self.candidate_paths(host, path) if k in self.filter.lists.urls]
            key = matched[0]
            if key not in self.entries:
                return f"40-bit key collision ({key} is not listed)"
            if key != host + path:
                return "page under a listed path: datatrove matches the exact string only"
            if "://" in url:
                return "URL with a scheme: datatrove compares the whole string with UT1's scheme-less entries"
            return "spelling (www., case, trailing slash): datatrove compares the exact string"
        if rule in ("banned_words", "soft_banned_words"):
            from filters.urls import tokens

            words = self.filter.lists.banned_words if rule == "banned_words" else self.filter.lists.soft_banned_words
            as_written = set(re.split(r"[^a-zA-Z0-9]+", url))
            if len(as_written & words) < len(tokens(url) & words):
                return "word not in lower case: datatrove's URL tokens keep their case"
        return "other"

    def datatrove_only(self, url: str, reason: str, registered: str, fqdn: str) -> str:
        host, _ = self.split_url(url)
        if RULE_OF_REASON[reason] == "blocklist_domain":
            return f"host read differently (ours {host!r}; tldextract: registered {registered!r}, fqdn {fqdn!r})"
        return "other"


def agreement(urls: list[str], ours: list[str | None], theirs: list[list], explainer: Explainer,
              examples: int = 5) -> dict:
    counts, by_rule, crossed = Counter(), {"ours": Counter(), "datatrove": Counter()}, Counter()
    why: dict[str, Counter] = {"ours only": Counter(), "datatrove only": Counter()}
    shown: dict[str, list[str]] = defaultdict(list)
    for url, mine, (reason, registered, fqdn) in zip(urls, ours, theirs):
        counts["urls"] += 1
        if mine:
            by_rule["ours"][mine] += 1
        if reason:
            by_rule["datatrove"][reason] += 1
        if mine and reason:
            counts["both drop"] += 1
            crossed[f"{mine} / {reason}"] += 1
        elif mine or reason:
            side = "ours only" if mine else "datatrove only"
            cause = (f"{mine}: {explainer.ours_only(url, mine, registered, fqdn)}" if mine
                     else f"{reason}: {explainer.datatrove_only(url, reason, registered, fqdn)}")
            counts[side] += 1
            why[side][cause] += 1
            if len(shown[cause]) < examples:
                shown[cause].append(url)
        else:
            counts["neither"] += 1
    same = sum(n for pair, n in crossed.items() if RULE_OF_REASON[pair.split(" / ")[1]] == pair.split(" / ")[0])
    return {"counts": dict(counts), "dropped_by": {k: dict(v.most_common()) for k, v in by_rule.items()},
            "both_drop_same_rule": same, "both_drop_rules (ours / datatrove)": dict(crossed.most_common()),
            "differences": {side: [{"why": cause, "count": n, "examples": shown[cause]} for cause, n in c.most_common()]
                            for side, c in why.items()}}


# ----------------------------------------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datatrove-python", required=True, help="python of a venv with datatrove installed")
    parser.add_argument("--input", type=Path, default=ROOT / "bench/out/corpus/1x", help="folder of .warc.gz")
    parser.add_argument("--probes", type=int, default=5000, help="entries sampled from datatrove's lists")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat-to", type=int, default=200_000, help="URLs timed (the real ones, repeated)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/out/url.json")
    args = parser.parse_args()

    load_before = os.getloadavg()
    loading = json.loads(subprocess.run([sys.executable, "-c", _LOAD], cwd=ROOT, check=True, capture_output=True,
                                        text=True).stdout)

    shared = sorted(p for p in (SHARED / "warc").rglob("*.warc*") if p.is_file())
    corpus = sorted(args.input.glob("*.warc.gz"))
    if not corpus:
        print(f"warning: no .warc.gz in {args.input}: the bench corpus's URLs are left out", file=sys.stderr)
    shared_targets, shared_links, failed = warc_urls(shared)
    corpus_targets, corpus_links, corpus_failed = warc_urls(corpus)
    sets = {"targets": [u for u in shared_targets + corpus_targets if u],
            "outlinks": [u for u in dict.fromkeys(shared_links + corpus_links) if u]}
    probes = probe_urls(args.probes, args.seed)
    sets["probes"] = [u for u, _, _ in probes]

    from filters.url_filter import UrlFilter, load

    url_filter = UrlFilter(load(None, ["adult", "agressif"], None, None, None, True, []))
    speed = throughput(url_filter, sets["targets"] + sets["outlinks"], args.repeat_to)
    speed["breakdown"] = breakdown(url_filter, sets["targets"] + sets["outlinks"], args.repeat_to)
    speed["targets_only"] = throughput(url_filter, sets["targets"], args.repeat_to)

    every = [u for name in ("targets", "outlinks", "probes") for u in sets[name]]
    with tempfile.TemporaryDirectory() as tmp:
        source, result = Path(tmp, "urls.json"), Path(tmp, "out.json")
        source.write_text(json.dumps(every), encoding="utf-8")
        subprocess.run([args.datatrove_python, "-c", _DATATROVE, str(source), str(result)], check=True,
                       stderr=subprocess.DEVNULL)
        theirs_run = json.loads(result.read_text(encoding="utf-8"))
    theirs = iter(theirs_run["results"])
    start = time.process_time()
    ours_scores = url_filter.score(every)
    ours_cpu = time.process_time() - start

    explainer = Explainer(url_filter)
    ours = iter(our_reason(s) for s in ours_scores)
    results, spellings = {}, {}
    for name in ("targets", "outlinks", "probes"):
        mine = [next(ours) for _ in sets[name]]
        other = [next(theirs) for _ in sets[name]]
        results[name] = agreement(sets[name], mine, other, explainer)
        if name == "probes":
            grouped: dict[str, list[int]] = defaultdict(list)
            for i, (_, spelling, _) in enumerate(probes):
                grouped[spelling].append(i)
            for spelling, idx in sorted(grouped.items()):
                part = agreement([sets[name][i] for i in idx], [mine[i] for i in idx], [other[i] for i in idx],
                                 explainer, examples=2)
                spellings[spelling] = {**part["counts"], "datatrove drops by": part["dropped_by"]["datatrove"]}

    report = {
        "machine": {"cpus": os.cpu_count(), "load_avg_before": [round(x, 2) for x in load_before],
                    "load_avg_after": [round(x, 2) for x in os.getloadavg()]},
        "input": {"shared_warc_files": len(shared), "shared_unreadable": failed, "corpus": str(args.input),
                  "corpus_files": len(corpus), "corpus_unreadable": corpus_failed,
                  "urls": {name: len(urls) for name, urls in sets.items()},
                  "distinct": {name: len(set(urls)) for name, urls in sets.items()}},
        "throughput": {"ours": speed,
                       "ours_all_urls_one_batch": {"urls": len(every), "urls_per_cpu_s": round(len(every) / ours_cpu)},
                       "datatrove": {"urls": len(every), "urls_per_cpu_s": round(len(every) / theirs_run["cpu_s"]),
                                     "load_s": round(theirs_run["load_s"], 2)}},
        "per_worker": {"load_s": round(loading["load_s"], 3), "lists_mb": round(loading["nbytes"] / 1e6, 1),
                       "rss_growth_mb": round(loading["rss_growth"] / 1e6, 1),
                       "peak_rss_growth_mb": round(loading["peak_growth"] / 1e6, 1),
                       "domain_keys": loading["domains"], "url_keys": loading["urls"]},
        "agreement": results,
        "probes_by_spelling": spellings,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    summary(report)


def summary(report: dict) -> None:
    inp, speed, worker = report["input"], report["throughput"], report["per_worker"]
    print(f"machine: {report['machine']}")
    print(f"URLs: {inp['urls']} (distinct {inp['distinct']})")
    ours = speed["ours"]
    print(f"ours: {ours['median_urls_per_cpu_s']:,} URLs/CPU-s median, {ours['best_urls_per_cpu_s']:,} best "
          f"(runs {ours['urls_per_cpu_s']}, {ours['urls']:,} URLs in batches of {ours['batch']}; "
          f"{ours['us_per_url']} us/URL); datatrove: {speed['datatrove']['urls_per_cpu_s']:,} URLs/CPU-s")
    print(f"  page URLs (targets) only: {speed['ours']['targets_only']['median_urls_per_cpu_s']:,} URLs/CPU-s median, "
          f"{speed['ours']['targets_only']['best_urls_per_cpu_s']:,} best")
    print(f"  where the time goes (us/URL): {speed['ours']['breakdown']['us_per_url']}")
    print(f"per worker: load {worker['load_s']} s, lists {worker['lists_mb']} MB, RSS +{worker['rss_growth_mb']} MB "
          f"(peak +{worker['peak_rss_growth_mb']} MB)")
    for name, part in report["agreement"].items():
        print(f"\n{name}: {part['counts']}")
        print(f"  dropped by: ours {part['dropped_by']['ours']}; datatrove {part['dropped_by']['datatrove']}")
        for side, rows in part["differences"].items():
            for row in rows:
                print(f"  {side:15s} {row['count']:6d}  {row['why']}  e.g. {row['examples'][:2]}")
    print("\nprobes by spelling:")
    for spelling, row in report["probes_by_spelling"].items():
        print(f"  {spelling:18s} " + ", ".join(f"{k} {v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
