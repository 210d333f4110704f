"""datatrove's nearest equivalent of our default recipe, run by bench/e2e.py in datatrove's own venv.

    /tmp/dtvenv/bin/python bench/datatrove_run.py --input DIR --work DIR --workers 2 --lid-model lid.176.ftz

datatrove pins trafilatura < 1.12 and xxhash < 4, which our project cannot install, so it lives in a
separate venv; this file imports nothing from the project. The pipeline is FineWeb's, with every
threshold set to our recipe's value where datatrove has the knob (so the comparison measures
implementations, not choices):

  1. WarcReader → Trafilatura → LanguageFilter(en ≥ 0.65) → GopherRepetitionFilter → GopherQualityFilter
     → C4QualityFilter → FineWebQualityFilter → JsonlWriter (tasks = input files; datatrove splits work
     by file). Each filter writes what it drops (id + reason only) to excluded/<filter>/.
  2. MinHash in datatrove's four stages (signatures → buckets → cluster → filter), 9 bands × 13 rows
     over word 5-grams with 64-bit hashes (our LSH parameters), and the filter stage's survivors go to
     ParquetWriter (zstd). Stages run one after another, each as a LocalPipelineExecutor.

Extractor settings against ours (pipelines/extract.py with the default recipe): favour_precision=False,
include_comments=False, include_tables=True, deduplicate=False and a 30 s timeout (datatrove's defaults
are True / 1 s, which ``--extractor fineweb`` keeps: FineWeb's own settings). datatrove calls ``trafilatura.extract`` (text only: no metadata pass, so no title and
date) where we call ``bare_extraction`` after reading title and date off the parsed tree (``extract.metadata:
light``); ours also passes the page's URL.
The language model is the same file as ours (lid.176.ftz): datatrove would download lid.176.bin.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    LanguageFilter,
)
from datatrove.pipeline.readers import JsonlReader, WarcReader
from datatrove.pipeline.writers import JsonlWriter, ParquetWriter
from datatrove.utils.hashing import HashConfig
from datatrove.utils.lid import FT176LID


class LocalLID(FT176LID):
    """fastText lid.176 from a local file: no download (the machine has no internet)."""

    def __init__(self, languages: list[str], path: str) -> None:
        super().__init__(languages)
        self.path = path

    @property
    def model(self):
        if self._model is None:
            from fasttext.FastText import _FastText

            self._model = _FastText(self.path)
        return self._model


def _id_and_reason(self, document) -> dict:
    return {"id": document.id, "reason": document.metadata.get("filter_reason", "")}


def excluded(work: Path, name: str) -> JsonlWriter:
    return JsonlWriter(str(work / "excluded" / name), adapter=_id_and_reason, compression=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, help="folder of .warc.gz files")
    parser.add_argument("--work", required=True, help="output folder (intermediates, logs, output/)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--lid-model", required=True)
    parser.add_argument("--extractor", choices=["ours", "fineweb"], default="ours",
                        help="ours: our extraction settings (below); fineweb: datatrove's Trafilatura defaults, "
                        "as FineWeb ran it (favour_precision=True, deduplicate=True, timeout 1 s)")
    args = parser.parse_args()
    work = Path(args.work)
    tasks = len([f for f in os.listdir(args.input) if f.endswith(".warc.gz")])
    language = LanguageFilter(languages=["en"], language_threshold=0.65, exclusion_writer=excluded(work, "language"))
    language.model = LocalLID(["en"], args.lid_model)
    minhash = MinhashConfig(n_grams=5, num_buckets=9, hashes_per_bucket=13, hash_config=HashConfig(precision=64))
    filtered = str(work / "filtered")
    curate = LocalPipelineExecutor(
        pipeline=[
            WarcReader(args.input, glob_pattern="*.warc.gz"),
            Trafilatura(favour_precision=False, timeout=30, deduplicate=False, include_tables=True)
            if args.extractor == "ours" else Trafilatura(),
            language,
            GopherRepetitionFilter(exclusion_writer=excluded(work, "gopher_repetition")),
            GopherQualityFilter(exclusion_writer=excluded(work, "gopher_quality")),
            # ours: C4's own numbers (>= 3 sentences, >= 5 words per line) without the punctuation rule
            C4QualityFilter(filter_no_terminal_punct=False, min_num_sentences=3, min_words_per_line=5,
                            exclusion_writer=excluded(work, "c4")),
            # ours: FineWeb's three rules with the paper's 0.1 duplicate-line-character threshold
            FineWebQualityFilter(char_duplicates_ratio=0.1, new_line_ratio=float("inf"),
                                 exclusion_writer=excluded(work, "fineweb")),
            JsonlWriter(filtered),
        ],
        tasks=tasks, workers=args.workers, logging_dir=str(work / "logs" / "curate"),
    )
    signatures = LocalPipelineExecutor(
        pipeline=[JsonlReader(filtered), MinhashDedupSignature(str(work / "minhash/sigs"), config=minhash)],
        tasks=tasks, workers=args.workers, logging_dir=str(work / "logs" / "signatures"), depends=curate,
    )
    buckets = LocalPipelineExecutor(
        pipeline=[MinhashDedupBuckets(str(work / "minhash/sigs"), str(work / "minhash/buckets"), config=minhash)],
        tasks=minhash.num_buckets, workers=args.workers, logging_dir=str(work / "logs" / "buckets"), depends=signatures,
    )
    cluster = LocalPipelineExecutor(
        pipeline=[MinhashDedupCluster(str(work / "minhash/buckets"), str(work / "minhash/remove"), config=minhash)],
        tasks=1, logging_dir=str(work / "logs" / "cluster"), depends=buckets,
    )
    final = LocalPipelineExecutor(
        pipeline=[
            JsonlReader(filtered),
            MinhashDedupFilter(str(work / "minhash/remove"), exclusion_writer=excluded(work, "minhash")),
            ParquetWriter(str(work / "output"), compression="zstd"),
        ],
        tasks=tasks, workers=args.workers, logging_dir=str(work / "logs" / "filter"), depends=cluster,
    )
    final.run()
    stats = json.loads((work / "logs" / "curate" / "stats.json").read_text())
    print(json.dumps([{"name": s["name"], "stats": s["stats"]} for s in stats], indent=1)[:4000])


if __name__ == "__main__":
    main()
