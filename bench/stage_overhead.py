"""What a model stage costs inside the Beam pipeline, against the raw library call on the same documents.

    python bench/stage_overhead.py [--copies 20] [--repeats 3]

Documents: the English-or-not pages of ``pipelines/data/sample.warc.gz`` extracted once with trafilatura
(untimed), repeated ``--copies`` times. For each model stage (fastText quality, KenLM perplexity):

* raw: the library called directly (``quality.predict_batch`` in batches of 256, ``doc_perplexity``
  per document), one process;
* Beam: the stage's cost inside a DirectRunner pipeline (one worker), measured as the wall time of
  ``Create → BatchElements → ParDo(run_stages with that stage) → count`` minus the same pipeline with an
  empty stage list, so Beam's fixed start-up and the Create/Batch cost are not charged to the stage. The
  stage runs through the production code: ``filters.stages`` builders and ``run_stages``.

overhead = Beam stage time / raw time − 1 (target ≤ 25%). Best of ``--repeats`` runs of each, interleaved,
because the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "pipelines" / "data" / "sample.warc.gz"


def load_texts(copies: int) -> list[str]:
    from pipelines import readers
    from pipelines.extract import ExtractConfig, extract_html

    cfg = ExtractConfig(timeout_s=0, metadata="none")
    docs = [p for k, p in readers.read_warc(str(SAMPLE), lambda: open(SAMPLE, "rb"), max_record_bytes=10**7)
            if k == "doc" and "html" in p]
    texts = [extract_html(d["html"], d["charset"], d["url"], cfg).text for d in docs]
    return [t for t in texts if t.strip()] * copies


class _Stage(beam.DoFn):
    def __init__(self, which: str):
        self.which = which
        self.stages = None

    def setup(self):
        from filters.config import PerplexityConfig, QualityConfig
        from filters.registry import PERPLEXITY, QUALITY
        from filters.stages import bind

        self.stages = {
            "none": [],
            "quality": [bind(QUALITY, QualityConfig())],
            "perplexity": [bind(PERPLEXITY, PerplexityConfig())],
        }[self.which]

    def process(self, batch):
        from filters.stages import run_stages

        start = time.perf_counter()
        docs = [{"text": t, "scores": None} for t in batch]
        run_stages(docs, self.stages, annotate_only=True)
        beam.metrics.Metrics.counter("bench", "stage_us").inc(int((time.perf_counter() - start) * 1e6))
        yield len(docs)


def beam_seconds(texts: list[str], which: str) -> tuple[float, float]:
    """(wall time of the whole pipeline, time spent in the stage's DoFn body as measured inside it)."""
    from apache_beam.metrics.metric import MetricsFilter

    options = PipelineOptions(["--runner=DirectRunner", "--direct_num_workers=1"])
    start = time.perf_counter()
    p = beam.Pipeline(options=options)
    (
        p
        | beam.Create(texts)
        | beam.BatchElements(min_batch_size=16, max_batch_size=256)
        | beam.ParDo(_Stage(which))
        | beam.CombineGlobally(sum)
    )
    result = p.run()
    result.wait_until_finish()
    wall = time.perf_counter() - start
    counters = result.metrics().query(MetricsFilter().with_name("stage_us"))["counters"]
    return wall, sum(c.committed for c in counters) / 1e6


def raw_seconds(texts: list[str], which: str) -> float:
    from filters import perplexity, quality

    if which == "quality":
        model = quality.load_model()
        start = time.perf_counter()
        for i in range(0, len(texts), 256):
            quality.predict_batch(model, texts[i : i + 256])
    else:
        model = perplexity.load_model()
        start = time.perf_counter()
        for text in texts:
            perplexity.doc_perplexity(model, text)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "stage_overhead.json")
    args = parser.parse_args()
    texts = load_texts(args.copies)
    print(f"{len(texts)} documents, {sum(map(len, texts)) / len(texts):,.0f} characters on average")
    best: dict[str, float] = {}

    def keep_best(key: str, value: float) -> None:
        best[key] = min(best.get(key, float("inf")), value)

    for _ in range(args.repeats):
        for stage in ("quality", "perplexity"):
            keep_best(f"raw {stage}", raw_seconds(texts, stage))
        for stage in ("none", "quality", "perplexity"):
            wall, inside = beam_seconds(texts, stage)
            keep_best(f"beam {stage} wall", wall)
            keep_best(f"beam {stage} in DoFn", inside)
    results = {"documents": len(texts), "seconds": best}
    for stage in ("quality", "perplexity"):
        raw = best[f"raw {stage}"]
        marginal = best[f"beam {stage} wall"] - best["beam none wall"]
        inside = best[f"beam {stage} in DoFn"]
        results[stage] = {"raw_docs_per_s": len(texts) / raw, "in_dofn_docs_per_s": len(texts) / inside,
                          "marginal_docs_per_s": len(texts) / marginal,
                          "overhead_in_dofn": inside / raw - 1, "overhead_marginal": marginal / raw - 1}
        print(f"{stage:<11} raw {len(texts) / raw:7,.0f} docs/s | inside the DoFn {len(texts) / inside:7,.0f} docs/s "
              f"({inside / raw - 1:+.1%}) | marginal pipeline time {len(texts) / marginal:7,.0f} docs/s "
              f"({marginal / raw - 1:+.1%})")
    print(f"empty pipeline (Create → BatchElements → ParDo → count): {best['beam none wall']:.2f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
