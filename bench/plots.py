"""PNG charts of the benchmark results, written to docs/img/ and embedded in docs/BENCHMARKS.md.

    python bench/plots.py     # redraws every chart whose JSON exists under bench/out/

Each benchmark script calls its own function at the end of a run; this entry point redraws them all
from the saved JSON (e.g. after a style change) without rerunning anything. matplotlib with the Agg
backend (no display), fixed size and DPI so that the committed PNGs change only when the numbers do.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img"
OUT = ROOT / "bench" / "out"
LABELS = {"ours": "ours (default recipe)", "ours-matched": "ours (datatrove's work)",
          "ours-resiliparse": "ours (resiliparse preset)", "datatrove": "datatrove (our extraction settings)",
          "datatrove-fineweb": "datatrove (as FineWeb ran it)"}


def _save(fig, name: str) -> Path:
    IMG.mkdir(parents=True, exist_ok=True)
    path = IMG / name
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


def plot_e2e(result: dict) -> Path:
    """Docs/s per core and documents per CPU second, one bar per system."""
    runs = result["runs"]
    names = list(runs)
    fig, axes = plt.subplots(1, 2, figsize=(12, 1.4 + 0.5 * len(names)))
    for ax, key, title in ((axes[0], "docs_per_s_per_core", "documents / s per core (wall)"),
                           (axes[1], "docs_per_cpu_s", "documents per CPU second")):
        values = [runs[n][key] for n in names]
        bars = ax.barh([LABELS.get(n, n) for n in names], values, color=["#C44E52" if n.startswith("datatrove") else "#4C72B0" for n in names])
        ax.bar_label(bars, fmt="%.2f", padding=3)
        ax.set_title(title)
        ax.set_xlim(0, max(values) * 1.25)
        ax.invert_yaxis()
    fig.suptitle(f"{result['documents']:,} HTML pages, {result['workers']} workers, trafilatura 2.3.1 in both", fontsize=10)
    return _save(fig, "e2e_throughput.png")


def plot_profile(result: dict, beam: dict | None = None) -> Path:
    """Milliseconds per document read, per stage (CPU), extraction highlighted; Beam's per-record
    overhead from ``beam`` (the resiliparse profile, see bench/profile_stages.py) when given."""
    steps = {k: v["ms_per_doc_read"] for k, v in result["steps"].items() if k != "model_load"}
    steps["extractor IPC"] = result["ipc_ms_per_doc"]
    if beam and "beam_overhead_ms_per_doc" in beam:
        steps["Beam overhead"] = beam["beam_overhead_ms_per_doc"]
    names = list(steps)
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(names) + 1.2))
    colors = ["#C44E52" if n == "extract" else "#8172B2" if n == "Beam overhead" else "#4C72B0" for n in names]
    bars = ax.barh(names, [steps[n] for n in names], color=colors)
    ax.bar_label(bars, fmt="%.2f", padding=3)
    ax.set_xscale("log")
    ax.set_xlabel("CPU ms per document read (log scale)")
    ax.invert_yaxis()
    ax.set_title(f"Where the time goes: {result['documents']:,} documents, default recipe"
                 + (f" ({', '.join(result['overrides'])})" if result["overrides"] else ""), fontsize=10)
    return _save(fig, "profile_stages.png")


def plot_extraction(results: dict) -> Path:
    """F1 per extractor configuration and gold set (bench/extraction.py's JSON)."""
    sets = list(results)
    engines = list(results[sets[0]])
    fig, ax = plt.subplots(figsize=(9, 3.6))
    width = 0.8 / len(engines)
    for i, engine in enumerate(engines):
        xs = [j + i * width for j in range(len(sets))]
        bars = ax.bar(xs, [results[s][engine]["f1"] for s in sets], width, label=engine)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks([j + width * (len(engines) - 1) / 2 for j in range(len(sets))],
                  [f"{s} ({results[s][engines[0]]['pages']})" for s in sets])
    ax.set_ylim(0.5, 1.0)
    ax.set_ylabel("F1")
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    ax.set_title("Extraction F1 per engine and gold set", fontsize=10)
    return _save(fig, "extraction_f1.png")


def plot_scaling(results: dict) -> Path:
    """Left: throughput with 1 and 2 workers; right: peak memory on the 1x and 10x corpus."""
    panels = [(mode, key, scale, title) for mode, key, scale, title in (
        ("workers", "docs_per_s", 1, "documents / s (wall), 1x corpus, default recipe"),
        ("size", "peak_pss_mb", 1024, "peak memory of the process tree (PSS, GiB)")) if mode in results]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 2.8), squeeze=False)
    for ax, (mode, key, scale, title) in zip(axes[0], panels):
        runs = results[mode]["runs"]
        labels = [name + (" (killed)" if r.get("killed_over_mb") else "") for name, r in runs.items()]
        values = [r[key] / scale for r in runs.values()]
        bars = ax.barh(labels, values, color="#4C72B0")
        ax.bar_label(bars, fmt="%.1f", padding=3)
        ax.set_xlim(0, max(values) * 1.3)
        ax.set_title(title, fontsize=9)
        ax.invert_yaxis()
    return _save(fig, "scaling.png")


def main() -> None:
    for name, fn in (("e2e.json", plot_e2e), ("extraction.json", plot_extraction), ("scaling.json", plot_scaling)):
        if (OUT / name).exists():
            print(fn(json.loads((OUT / name).read_text())))
    if (OUT / "profile.json").exists():
        beam = OUT / "profile_resiliparse.json"
        print(plot_profile(json.loads((OUT / "profile.json").read_text()),
                           json.loads(beam.read_text()) if beam.exists() else None))


if __name__ == "__main__":
    main()
