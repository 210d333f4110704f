"""LSHBloom benchmarks: library choice, ours vs datasketch side by side, quality on real pairs, scale.

    python bench/make_near_dups.py --docs 100000              # the corpus, in /tmp/lshbloom-bench/
    python bench/lshbloom_bench.py choose                      # signature and Bloom backends, measured
    python bench/lshbloom_bench.py compare                     # ours vs MinHashLSH vs MinHashLSHBloom
    python bench/lshbloom_bench.py quality                     # clough-stevenson pair precision/recall
    python bench/lshbloom_bench.py scale --n 10000000          # 10M signatures through the index
    python bench/lshbloom_bench.py all

Each method of ``compare`` runs in its own process (``_worker``), so peak RSS is its own and timings
do not share caches; all run in one invocation on the same corpus, so ratios are comparable on a
noisy machine. Results are printed as tables and merged into ``bench/out/lshbloom_results.json``.
Needs ``pip install "datasketch[bloom]" rensa==0.5.0`` (and rbloom, pybloom-live for ``choose``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # per-core figures: keep rensa on one thread

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from dedup import minhash  # noqa: E402
from dedup.lshbloom import BloomFilter, LSHBloomIndex, band_keys  # noqa: E402
from dedup.normalize import shingle_hashes, shingles  # noqa: E402
from dedup.params import LSHParams, bloom_fp, effective_fp, index_bits  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
WORK = Path("/tmp/lshbloom-bench")
CORPUS = WORK / "near_dups.jsonl"
RESULTS = ROOT / "bench" / "out" / "lshbloom_results.json"
PARAMS = LSHParams.for_threshold(0.8, 128, 1e-5)
SIG_BATCH = 64
INDEX_BATCH = 4096


def peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it is not inherited from the parent across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def load_corpus(path: Path, limit: int | None = None) -> list[dict]:
    docs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            docs.append(json.loads(line))
            if limit and len(docs) >= limit:
                break
    return docs


def save_results(section: str, data: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[section] = data
    RESULTS.write_text(json.dumps(results, indent=1, default=float))


def table(rows: list[list], header: list[str]) -> None:
    cells = [[str(c) for c in header]] + [[f"{c:,.3f}" if isinstance(c, float) else (f"{c:,}" if isinstance(c, int) else str(c)) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for k, r in enumerate(cells):
        print("  ".join(c.rjust(w) if k else c.ljust(w) for c, w in zip(r, widths)))
        if k == 0:
            print("  ".join("-" * w for w in widths))


# -- workers (one process per method) ---------------------------------------------------------------


def _ds_minhashes(sigs: np.ndarray) -> list:
    from datasketch import MinHash

    a, b = minhash.permutations(PARAMS.num_perm, PARAMS.seed)
    perms = np.array([a, b])
    return [MinHash(hashvalues=row, permutations=perms, scheme="affine32") for row in sigs]


def worker(method: str, corpus: Path, out: Path, sigs_from: str | None, key_kind: str = "id") -> None:
    out.mkdir(parents=True, exist_ok=True)
    result: dict = {"method": method}
    capacity = None
    if method in ("ours", "ours_numpy", "ds_sig"):
        texts = [d["text"] for d in load_corpus(corpus)]
        capacity = len(texts)
        result["rss_inputs_mib"] = peak_rss_mib()
    if method in ("ours", "ours_numpy"):
        backend = "rensa" if method == "ours" else "numpy"
        index = LSHBloomIndex(PARAMS, capacity, backend=backend)
        print(PARAMS.summary(capacity), flush=True)
        sig_time = index_time = 0.0
        dup = np.zeros(len(texts), dtype=bool)
        all_sigs = np.empty((len(texts), PARAMS.num_perm), dtype=np.uint32)
        for lo in range(0, len(texts), INDEX_BATCH):
            hi = min(lo + INDEX_BATCH, len(texts))
            t0 = time.perf_counter()
            for s in range(lo, hi, SIG_BATCH):
                all_sigs[s : min(s + SIG_BATCH, hi)] = minhash.signatures(texts[s : min(s + SIG_BATCH, hi)], backend=backend)
            t1 = time.perf_counter()
            dup[lo:hi] = index.query_then_add_many(index.keys(all_sigs[lo:hi]))
            index_time += time.perf_counter() - t1
            sig_time += t1 - t0
        path = index.save(out / "index")
        result.update(signature_s=sig_time, index_s=index_time, total_s=sig_time + index_time, duplicates=int(dup.sum()),
                      index_bytes=dir_bytes(path), formula_bytes=index_bits(capacity, PARAMS.p, PARAMS.bands) / 8,
                      array_bytes=index.nbytes, stats=index.stats())
        np.save(out / "decisions.npy", dup)
        np.save(out / "signatures.npy", all_sigs)
    elif method == "ds_sig":
        from datasketch import MinHash

        t0 = time.perf_counter()
        sigs = np.empty((len(texts), PARAMS.num_perm), dtype=np.uint32)
        for i, text in enumerate(texts):
            m = MinHash(num_perm=PARAMS.num_perm, seed=PARAMS.seed)
            m.update_batch([s.encode("utf-8") for s in shingles(text, PARAMS.ngram)])
            sigs[i] = m.hashvalues
        result.update(signature_s=time.perf_counter() - t0)
        np.save(out / "signatures.npy", sigs)
    elif method in ("ds_lsh", "ds_bloom"):
        sigs = np.load(WORK / "work" / sigs_from / "signatures.npy")
        minhashes = _ds_minhashes(sigs)
        result["rss_inputs_mib"] = peak_rss_mib()
        dup = np.zeros(len(sigs), dtype=bool)
        if method == "ds_lsh":
            from datasketch import MinHashLSH

            import xxhash

            # keys as this pipeline's document ids are: 32 hex characters (xxh3-128)
            ids = [xxhash.xxh3_128_hexdigest(str(i).encode()) for i in range(len(minhashes))] if key_kind == "id" else list(range(len(minhashes)))
            lsh = MinHashLSH(threshold=PARAMS.threshold, num_perm=PARAMS.num_perm)
            assert (lsh.b, lsh.r) == (PARAMS.bands, PARAMS.rows)
            t0 = time.perf_counter()
            for i, m in enumerate(minhashes):
                if lsh.query(m):
                    dup[i] = True
                else:
                    lsh.insert(ids[i], m, check_duplication=False)
            result["index_s"] = time.perf_counter() - t0
            import pickle

            with open(out / "minhashlsh.pkl", "wb") as f:
                pickle.dump(lsh, f, protocol=pickle.HIGHEST_PROTOCOL)
            result["index_bytes"] = (out / "minhashlsh.pkl").stat().st_size
        else:
            import shutil
            import warnings

            from datasketch import MinHashLSHBloom

            shutil.rmtree(out / "bloom", ignore_errors=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                lsh = MinHashLSHBloom(threshold=PARAMS.threshold, num_perm=PARAMS.num_perm, n=len(sigs), fp=PARAMS.p,
                                      save_dir=str(out / "bloom"))
            assert (lsh.b, lsh.r) == (PARAMS.bands, PARAMS.rows)
            t0 = time.perf_counter()
            for i, m in enumerate(minhashes):
                if lsh.query(m):
                    dup[i] = True
                else:
                    lsh.insert(m)
            result["index_s"] = time.perf_counter() - t0
            lsh.sync()
            result["index_bytes"] = dir_bytes(out / "bloom")
        result["duplicates"] = int(dup.sum())
        np.save(out / "decisions.npy", dup)
    result["peak_rss_mib"] = peak_rss_mib()
    (out / "result.json").write_text(json.dumps(result, default=float))


def run_worker(method: str, corpus: Path, sigs_from: str | None = None, name: str | None = None, key_kind: str = "id") -> dict:
    name = name or method
    out = WORK / "work" / name
    if name in os.environ.get("LSHBLOOM_REUSE", "").split(",") and (out / "result.json").exists():
        return json.loads((out / "result.json").read_text())  # a worker of an earlier invocation
    cmd = [sys.executable, __file__, "_worker", method, "--corpus", str(corpus), "--out", str(out), "--keys", key_kind]
    if sigs_from:
        cmd += ["--sigs-from", sigs_from]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    result = json.loads((out / "result.json").read_text())
    result["wall_s"] = time.perf_counter() - t0
    print(f"  {name}: {json.dumps({k: v for k, v in result.items() if k != 'stats'}, default=float)}", flush=True)
    return result


# -- item 6 ----------------------------------------------------------------------------------------


def compare(corpus: Path) -> dict:
    docs = load_corpus(corpus)
    n = len(docs)
    print(f"compare: {n:,} documents from {corpus}; {PARAMS.summary(n)}", flush=True)
    runs = {
        "ours": run_worker("ours", corpus),
        "ds_sig": run_worker("ds_sig", corpus),
    }
    runs["ds_lsh"] = run_worker("ds_lsh", corpus, "ds_sig", "ds_lsh")
    runs["ds_bloom"] = run_worker("ds_bloom", corpus, "ds_sig", "ds_bloom")
    runs["ds_lsh_intkeys"] = run_worker("ds_lsh", corpus, "ds_sig", "ds_lsh_intkeys", key_kind="int")
    runs["ds_lsh_oursigs"] = run_worker("ds_lsh", corpus, "ours", "ds_lsh_oursigs")
    runs["ds_bloom_oursigs"] = run_worker("ds_bloom", corpus, "ours", "ds_bloom_oursigs")
    dec = {k: np.load(WORK / "work" / k / "decisions.npy") for k in runs if k not in ("ds_sig", "ds_lsh_intkeys")}

    # planted pairs: (source, copy); detected if the later one in processing order is flagged
    position = {d["id"]: i for i, d in enumerate(docs)}
    pairs = [(position[d["source"]], i, d) for i, d in enumerate(docs) if d["kind"] == "near_dup"]
    copied = {s for s, _, _ in pairs}
    lonely = np.array([i for i, d in enumerate(docs) if d["kind"] == "base" and i not in copied])

    def recall(flags: np.ndarray, select) -> float:
        chosen = [(s, c) for s, c, d in pairs if select(d)]
        return float(np.mean([flags[max(s, c)] for s, c in chosen])) if chosen else float("nan")

    buckets = {
        "J>=0.9": lambda d: d["jaccard"] >= 0.9,
        "0.8<=J<0.9": lambda d: 0.8 <= d["jaccard"] < 0.9,
        "0.7<=J<0.8": lambda d: 0.7 <= d["jaccard"] < 0.8,
        "J<0.7": lambda d: d["jaccard"] < 0.7,
    }
    e2e = {
        "ours (LSHBloom, rensa sigs)": runs["ours"]["total_s"],
        "datasketch MinHashLSH": runs["ds_sig"]["signature_s"] + runs["ds_lsh"]["index_s"],
        "datasketch MinHashLSHBloom": runs["ds_sig"]["signature_s"] + runs["ds_bloom"]["index_s"],
    }
    p_eff = PARAMS.p_effective
    agreement = {
        "same signatures: ours vs MinHashLSH": float(np.mean(dec["ours"] == dec["ds_lsh_oursigs"])),
        "same signatures: ours vs MinHashLSHBloom": float(np.mean(dec["ours"] == dec["ds_bloom_oursigs"])),
        "same signatures: MinHashLSHBloom vs MinHashLSH": float(np.mean(dec["ds_bloom_oursigs"] == dec["ds_lsh_oursigs"])),
        "each its own signatures: ours vs MinHashLSH": float(np.mean(dec["ours"] == dec["ds_lsh"])),
        "each its own signatures: MinHashLSHBloom vs MinHashLSH": float(np.mean(dec["ds_bloom"] == dec["ds_lsh"])),
    }
    rows = []
    for label, key, sig_key, idx_key in (
        ("ours (LSHBloom)", "ours", "ours", "ours"),
        ("datasketch MinHashLSH", "ds_lsh", "ds_sig", "ds_lsh"),
        ("datasketch MinHashLSHBloom", "ds_bloom", "ds_sig", "ds_bloom"),
    ):
        sig_s = runs[sig_key]["signature_s"]
        idx_s = runs[idx_key]["index_s"]
        rows.append([label, int(dec[key].sum()), sig_s, idx_s, sig_s + idx_s, n / (sig_s + idx_s),
                     max(runs[sig_key]["peak_rss_mib"], runs[idx_key]["peak_rss_mib"]),
                     runs[idx_key]["peak_rss_mib"] - runs[idx_key].get("rss_inputs_mib", 0),
                     runs[idx_key]["index_bytes"], *[recall(dec[key], f) for f in buckets.values()],
                     float(dec[key][lonely].mean())])
    print()
    table(rows, ["method", "dups", "sig s", "index s", "total s", "docs/s", "peak RSS MiB", "index RSS MiB", "index bytes",
                 *[f"recall {b}" for b in buckets], "flagged lonely base"])
    same = [["ours on same sigs", int(dec["ours"].sum()), runs["ours"]["index_s"], runs["ours"]["peak_rss_mib"]],
            ["MinHashLSH on our sigs", int(dec["ds_lsh_oursigs"].sum()), runs["ds_lsh_oursigs"]["index_s"], runs["ds_lsh_oursigs"]["peak_rss_mib"]],
            ["MinHashLSHBloom on our sigs", int(dec["ds_bloom_oursigs"].sum()), runs["ds_bloom_oursigs"]["index_s"], runs["ds_bloom_oursigs"]["peak_rss_mib"]]]
    print("\nindex only, identical signatures:")
    table(same, ["method", "dups", "index s", "peak RSS MiB"])
    print("\nagreement (fraction of documents with the same decision):")
    for k, v in agreement.items():
        print(f"  {k}: {v:.5f}")
    target = 1 - p_eff - 0.001
    speed_lsh = e2e["datasketch MinHashLSH"] / e2e["ours (LSHBloom, rensa sigs)"]
    speed_bloom = e2e["datasketch MinHashLSHBloom"] / e2e["ours (LSHBloom, rensa sigs)"]
    size_ratio = runs["ours"]["index_bytes"] / runs["ds_lsh"]["index_bytes"]
    targets = {
        "agreement with MinHashLSH (same signatures) >= 1 - p_eff - 0.1%": [agreement["same signatures: ours vs MinHashLSH"], target],
        "end to end >= 3x faster than MinHashLSH": [speed_lsh, 3.0],
        "end to end >= 2x faster than MinHashLSHBloom": [speed_bloom, 2.0],
        "index <= 1/20 of MinHashLSH's bytes (keys: 32-hex ids)": [size_ratio, 1 / 20],
        "index <= 1/20 of MinHashLSH's bytes (keys: ints)": [runs["ours"]["index_bytes"] / runs["ds_lsh_intkeys"]["index_bytes"], 1 / 20],
        "formula bytes vs real array bytes": [runs["ours"]["array_bytes"] / runs["ours"]["formula_bytes"], 1.0],
    }
    print("\ntargets:")
    for k, (value, goal) in targets.items():
        ok = value <= goal if "<=" in k and "index" in k else value >= goal
        print(f"  {k}: {value:.5f} (goal {goal:.5f}) {'MET' if ok else 'NOT MET'}")
    data = {"documents": n, "params": PARAMS.to_dict(), "runs": runs, "end_to_end_s": e2e, "agreement": agreement, "targets": targets,
            "table": rows, "same_signature_table": same}
    save_results("compare", data)
    return data


# -- item 7 ----------------------------------------------------------------------------------------


def quality(shared: Path) -> dict:
    data_dir = shared / "dedup" / "clough-stevenson" / "data"
    info = list(csv.DictReader(open(data_dir / "file_information.csv")))
    text = {row["File"]: (data_dir / row["File"]).read_text(encoding="utf-8", errors="replace") for row in info}
    origs = {row["Task"]: row["File"] for row in info if row["Category"] == "orig"}
    answers = [row for row in info if row["Category"] != "orig"]
    names = sorted(text)
    sigs = dict(zip(names, minhash.signatures([text[k] for k in names])))
    hashes, offsets = shingle_hashes([text[k] for k in names])
    sets = {k: set(hashes[offsets[i] : offsets[i + 1]].tolist()) for i, k in enumerate(names)}

    indexes = {}  # one index per source, holding it alone, sized like a real one (capacity 1M)
    for orig in origs.values():
        indexes[orig] = LSHBloomIndex(PARAMS, 10**6)
        indexes[orig].add(indexes[orig].keys(sigs[orig]))

    def detected(a: str, b: str) -> bool:
        return indexes[a].query(indexes[a].keys(sigs[b]))

    pairs = []
    for row in answers:
        for task, orig in origs.items():
            same = task == row["Task"]
            category = row["Category"] if same else "other-task"
            jac = len(sets[orig] & sets[row["File"]]) / max(1, len(sets[orig] | sets[row["File"]]))
            pairs.append({"answer": row["File"], "source": orig, "category": category, "jaccard": jac,
                          "estimate": minhash.jaccard(sigs[orig], sigs[row["File"]]), "detected": detected(orig, row["File"])})
    truth = {"cut": True, "light": True, "non": False, "other-task": False}
    scored = [p for p in pairs if p["category"] in truth]
    tp = sum(p["detected"] and truth[p["category"]] for p in scored)
    fp = sum(p["detected"] and not truth[p["category"]] for p in scored)
    fn = sum(not p["detected"] and truth[p["category"]] for p in scored)
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    rows = []
    for cat in ("cut", "light", "heavy", "non", "other-task"):
        sel = [p for p in pairs if p["category"] == cat]
        rows.append([cat, len(sel), sum(p["detected"] for p in sel), float(np.mean([p["jaccard"] for p in sel])),
                     float(np.median([p["jaccard"] for p in sel])), float(np.max([p["jaccard"] for p in sel])),
                     sum(p["jaccard"] >= PARAMS.threshold for p in sel)])
    print(f"\nclough-stevenson, threshold {PARAMS.threshold} (b={PARAMS.bands}, r={PARAMS.rows}); duplicates = cut + light, "
          "not = non + other-task pairs; heavy reported apart")
    table(rows, ["category", "pairs", "detected", "mean J", "median J", "max J", "J >= threshold"])
    print(f"pair-level precision {precision:.3f}, recall {recall:.3f} (tp {tp}, fp {fp}, fn {fn})")
    # what a lower threshold would do, for the reader: same pairs, params chosen for that threshold
    sweep = []
    for threshold in (0.3, 0.5, 0.7, 0.8):
        params = LSHParams.for_threshold(threshold)
        keys = {k: band_keys(s, params.bands, params.rows) for k, s in sigs.items()}
        hit = [bool((keys[p["source"]] == keys[p["answer"]]).any()) for p in scored]
        t = sum(h and truth[p["category"]] for h, p in zip(hit, scored))
        f = sum(h and not truth[p["category"]] for h, p in zip(hit, scored))
        m = sum(not h and truth[p["category"]] for h, p in zip(hit, scored))
        sweep.append([threshold, f"{params.bands}x{params.rows}", t / (t + f) if t + f else float("nan"), t / (t + m)])
    print("threshold sweep (band collision of the two signatures):")
    table(sweep, ["threshold", "b x r", "precision", "recall"])
    data = {"precision": precision, "recall": recall, "tp": tp, "fp": fp, "fn": fn, "table": rows, "sweep": sweep, "pairs": pairs}
    save_results("quality", data)
    return data


# -- item 8 ----------------------------------------------------------------------------------------


def scale(n: int, copy_fraction: float = 0.1, seed: int = 0) -> dict:
    """n random signatures (10% planted copies sharing 1-9 bands of an earlier one) through band_keys
    and the index. Random signatures stand in for real ones: computing 10M real signatures would take
    ~10-20 min per core here, and the index only sees band keys."""
    rng = np.random.default_rng(seed)
    index = LSHBloomIndex(PARAMS, n)
    print(f"\nscale: {PARAMS.summary(n)}", flush=True)
    rss0 = peak_rss_mib()
    batch = 8192
    gen_s = keys_s = index_s = 0.0
    planted = found_planted = unique = false_pos = 0
    history = np.empty((0, PARAMS.num_perm), dtype=np.uint32)
    for lo in range(0, n, batch):
        size = min(batch, n - lo)
        t0 = time.perf_counter()
        sigs = rng.integers(0, 1 << 32, size=(size, PARAMS.num_perm), dtype=np.uint32)
        copy = rng.random(size) < copy_fraction if lo else np.zeros(size, dtype=bool)
        if copy.any():
            sources = history[rng.integers(0, history.shape[0], size=int(copy.sum()))]
            shared = rng.integers(1, PARAMS.bands + 1, size=sources.shape[0])
            for row, (src, k) in zip(np.flatnonzero(copy), zip(sources, shared)):
                for band in rng.choice(PARAMS.bands, size=k, replace=False):
                    sigs[row, band * PARAMS.rows : (band + 1) * PARAMS.rows] = src[band * PARAMS.rows : (band + 1) * PARAMS.rows]
        history = sigs[~copy][:1024]
        t1 = time.perf_counter()
        keys = index.keys(sigs)
        t2 = time.perf_counter()
        dup = index.query_then_add_many(keys)
        t3 = time.perf_counter()
        gen_s, keys_s, index_s = gen_s + t1 - t0, keys_s + t2 - t1, index_s + t3 - t2
        planted += int(copy.sum())
        found_planted += int(dup[copy].sum())
        unique += int((~copy).sum())
        false_pos += int(dup[~copy].sum())
        if (lo // batch) % 200 == 0:
            print(f"  {lo + size:,} docs, {(lo + size) / (keys_s + index_s):,.0f} docs/s, peak RSS {peak_rss_mib():,.0f} MiB", flush=True)
    # expected mean false-positive rate over the fill trajectory (unique docs arrive uniformly)
    xs = np.linspace(0, n, 201)
    expected_fp = float(np.mean([effective_fp(bloom_fp(index.bits, index.hashes, int(x * (1 - copy_fraction))), PARAMS.bands) for x in xs]))
    t0 = time.perf_counter()
    path = index.save(WORK / "scale-index")
    save_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    LSHBloomIndex.load(path, PARAMS)
    load_s = time.perf_counter() - t0
    on_disk = dir_bytes(path)
    formula = index_bits(n, PARAMS.p, PARAMS.bands) / 8
    rate = n / (keys_s + index_s)
    data = {
        "n": n, "batch": batch, "generate_s": gen_s, "band_keys_s": keys_s, "index_s": index_s, "docs_per_s": rate,
        "peak_rss_mib": peak_rss_mib(), "rss_before_mib": rss0, "index_bytes_on_disk": on_disk, "formula_bytes": formula,
        "planted_copies": planted, "planted_found": found_planted, "unique": unique, "false_positives": false_pos,
        "observed_fp_rate": false_pos / unique, "expected_mean_fp_rate": expected_fp, "stats": index.stats(),
        "save_s": save_s, "load_s": load_s,
    }
    print(f"  {n:,} signatures: band keys {keys_s:.0f} s + index {index_s:.0f} s -> {rate:,.0f} docs/s per core; "
          f"peak RSS {data['peak_rss_mib']:,.0f} MiB; on disk {on_disk / 2**20:,.1f} MiB vs formula {formula / 2**20:,.1f} MiB")
    print(f"  planted copies found {found_planted:,}/{planted:,}; false positives {false_pos:,} of {unique:,} unique "
          f"({false_pos / unique:.2e}; expected mean over the fill {expected_fp:.2e}, at capacity {PARAMS.p_effective:g})")
    projection = []
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    sig_rate = None
    if "compare" in results:
        ours = results["compare"]["runs"]["ours"]
        sig_rate = results["compare"]["documents"] / ours["signature_s"]
    for docs in (n, 10**9):
        mem = index_bits(docs, PARAMS.p, PARAMS.bands) / 8
        projection.append([f"{docs:,}", mem / 2**30, mem / PARAMS.bands / 2**30, docs / rate / 3600,
                           docs / sig_rate / 3600 if sig_rate else float("nan")])
    print("projection (formula memory; core-hours at the rates measured here):")
    table(projection, ["documents", "index GiB", "per band GiB", "index core-h", "signature core-h"])
    data["projection"] = projection
    save_results("scale", data)
    return data


# -- library choice ----------------------------------------------------------------------------------


def choose(corpus: Path, docs: int = 3000) -> dict:
    texts = [d["text"] for d in load_corpus(corpus, docs)]
    out: dict = {"documents": len(texts), "mean_chars": float(np.mean([len(t) for t in texts]))}

    def rate(fn, count) -> float:
        t0 = time.perf_counter()
        fn()
        return count / (time.perf_counter() - t0)

    sig = {}
    few = texts[:600]
    sig["python shingling only (strings)"] = rate(lambda: [shingles(t) for t in few], len(few))
    sig["our shingle hashes only (numpy)"] = rate(lambda: [shingle_hashes(texts[i : i + SIG_BATCH]) for i in range(0, len(texts), SIG_BATCH)], len(texts))
    from datasketch import MinHash

    def ds():
        for t in few:
            m = MinHash(num_perm=128)
            m.update_batch([s.encode() for s in shingles(t)])

    sig["datasketch update_batch, text -> signature"] = rate(ds, len(few))
    import rensa

    def rs():
        for t in few:
            rensa.RMinHash(128, 1).update(shingles(t))

    sig["rensa update(shingle strings), text -> signature"] = rate(rs, len(few))
    for backend in ("numpy", "rensa"):
        sig[f"ours backend={backend}, text -> signature"] = rate(
            lambda b=backend: [minhash.signatures(texts[i : i + SIG_BATCH], backend=b) for i in range(0, len(texts), SIG_BATCH)], len(texts))
    print(f"\nsignature backends ({len(texts):,} docs, mean {out['mean_chars']:,.0f} chars, one core):")
    table([[k, v] for k, v in sig.items()], ["path", "docs/s"])
    out["signatures"] = sig

    # Bloom backends on real band keys
    sigs = minhash.signatures(texts)
    keys = band_keys(sigs, PARAMS.bands, PARAMS.rows).ravel()
    absent = band_keys(np.random.default_rng(1).integers(0, 1 << 32, size=(len(texts), 128), dtype=np.uint32), PARAMS.bands, PARAMS.rows).ravel()
    keys = np.tile(keys, 30) ^ np.repeat(np.arange(30, dtype=np.uint64), keys.size)  # ~800k distinct real-derived keys
    capacity = keys.size
    ops = 2 * keys.size
    blooms = {}
    import xxhash

    try:
        from pybloom_live import BloomFilter as LiveBloom

        def live():
            f = LiveBloom(capacity=capacity, error_rate=PARAMS.p)
            for k in keys.tolist():
                f.add(k)
            return sum(k in f for k in keys.tolist())

        blooms["pybloom-live (pure Python)"] = rate(live, ops)
    except ImportError:
        pass
    try:
        import rbloom

        def stable(key: int) -> int:
            return int.from_bytes(xxhash.xxh3_128_digest(key.to_bytes(8, "little")), "little", signed=True)

        def rb():
            f = rbloom.Bloom(capacity, PARAMS.p, stable)
            f.update(keys.tolist())
            return sum(k in f for k in keys.tolist())

        blooms["rbloom, stable xxh3 hash_func"] = rate(rb, ops)
    except ImportError:
        pass
    try:
        import pybloomfilter

        def pbf():
            f = pybloomfilter.BloomFilter(capacity, PARAMS.p)
            for k in keys.tolist():
                f.add(k)
            return sum(k in f for k in keys.tolist())

        blooms["pybloomfilter3 (datasketch's)"] = rate(pbf, ops)
    except ImportError:
        pass

    def ours():
        f = BloomFilter(PARAMS.filter_bits(capacity), PARAMS.filter_hashes(capacity))
        for i in range(0, keys.size, 8192):
            f.add(keys[i : i + 8192])
        return sum(int(f.contains(keys[i : i + 8192]).sum()) for i in range(0, keys.size, 8192))

    blooms["ours (numpy bit array, batches of 8192)"] = rate(ours, ops)
    f = BloomFilter(PARAMS.filter_bits(capacity), PARAMS.filter_hashes(capacity))
    f.add(keys)
    out["our_bloom_fp_on_absent_keys"] = float(np.mean([f.contains(absent).mean() for _ in range(1)]))
    print(f"\nBloom backends ({keys.size:,} real-derived keys, capacity {capacity:,}, p={PARAMS.p:.2g}; add + query):")
    table([[k, v / 1e6] for k, v in blooms.items()], ["backend", "M ops/s"])
    out["bloom_ops_per_s"] = blooms
    save_results("choose", out)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("section", choices=["choose", "compare", "quality", "scale", "all", "_worker"])
    ap.add_argument("method", nargs="?")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--shared", type=Path, default=SHARED)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--sigs-from")
    ap.add_argument("--keys", choices=["id", "int"], default="id", help="MinHashLSH keys: 32-hex document ids or ints")
    ap.add_argument("--n", type=int, default=10_000_000)
    args = ap.parse_args(argv)
    if args.section == "_worker":
        worker(args.method, args.corpus, args.out, args.sigs_from, args.keys)
        return
    if args.section in ("choose", "all"):
        choose(args.corpus)
    if args.section in ("compare", "all"):
        compare(args.corpus)
    if args.section in ("quality", "all"):
        quality(args.shared)
    if args.section in ("scale", "all"):
        scale(args.n)
    print(f"\nresults: {RESULTS}")


if __name__ == "__main__":
    main()
