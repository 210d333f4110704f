"""PII anonymization: our ``filters.pii`` against datatrove's ``PIIFormatter`` (FineWeb's step) on the same texts.

    python bench/pii_bench.py --datatrove-python /tmp/dtvenv/bin/python [--input bench/out/corpus/1x]
                              [--engine trafilatura] [--out bench/out/pii.json]

Texts: every page of the bench corpus (bench/build_corpus.py), extracted as the pipeline does (the
recipe's extraction settings, without the metadata pass: text only), before any filtering, so both tools
see every page. Reported:

* throughput: MB of text per CPU second for each tool, each in its own process (ours here, datatrove's
  in its venv, which the project cannot install beside its own);
* agreement: the addresses each replaced, found by diffing each output against the input, as "both",
  "ours only", "datatrove only", with examples and why they differ.
"""

from __future__ import annotations

import argparse
import difflib
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from filters.pii import anonymize  # noqa: E402
from pages import extract_pages  # noqa: E402

_DATATROVE = """
import json, sys, time
from datatrove.pipeline.formatters import PIIFormatter
texts = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
formatter = PIIFormatter()
start = time.process_time()
out = [formatter.format(t) for t in texts]
cpu = time.process_time() - start
json.dump({"cpu_s": cpu, "texts": out}, open(sys.argv[2], "w", encoding="utf-8"))
"""


def corpus_texts(folder: Path, engine: str) -> list[str]:
    return [page["text"] for page in extract_pages(sorted(folder.glob("*.warc.gz")), engine)]


def replaced(before: str, after: str) -> list[str]:
    """The whitespace-separated tokens of ``before`` that ``after`` replaced, in order (a token keeps the
    punctuation around an address: ``<a@b.org>.``). Tokens, not characters: a character diff of 100 kB
    pages is quadratic."""
    old, new = before.split(), after.split()
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    return [token for op, i1, i2, _, _ in matcher.get_opcodes() if op in ("replace", "delete") for token in old[i1:i2]]


def kind_of(piece: str) -> str:
    return "email" if "@" in piece else "ipv6" if piece.count(":") >= 2 else "ipv4"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datatrove-python", required=True, help="python of a venv with datatrove installed")
    parser.add_argument("--input", type=Path, default=ROOT / "bench/out/corpus/1x")
    parser.add_argument("--engine", default="trafilatura", choices=["trafilatura", "resiliparse"])
    parser.add_argument("--out", type=Path, default=ROOT / "bench/out/pii.json")
    args = parser.parse_args()

    texts = corpus_texts(args.input, args.engine)
    megabytes = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    start = time.process_time()
    ours = [anonymize(t)[0] for t in texts]
    ours_cpu = time.process_time() - start
    with tempfile.TemporaryDirectory() as tmp:
        source, result = Path(tmp, "in.jsonl"), Path(tmp, "out.json")
        source.write_text("".join(json.dumps(t) + "\n" for t in texts), encoding="utf-8")
        subprocess.run([args.datatrove_python, "-c", _DATATROVE, str(source), str(result)], check=True)
        theirs_run = json.loads(result.read_text(encoding="utf-8"))
    theirs = theirs_run["texts"]

    counts: Counter[str] = Counter()
    examples: dict[str, list[str]] = {"ours only": [], "datatrove only": []}
    docs = Counter()
    for text, a, b in zip(texts, ours, theirs):
        if a == text and b == text:
            continue
        ours_pieces, their_pieces = Counter(replaced(text, a)), Counter(replaced(text, b))
        docs["changed by ours"] += a != text
        docs["changed by datatrove"] += b != text
        for piece in ours_pieces | their_pieces:
            both = min(ours_pieces[piece], their_pieces[piece])
            counts[f"both {kind_of(piece)}"] += both
            for side, mine, other in (("ours only", ours_pieces, their_pieces), ("datatrove only", their_pieces, ours_pieces)):
                extra = mine[piece] - min(mine[piece], other[piece])
                if extra:
                    counts[f"{side} {kind_of(piece)}"] += extra
                    if len(examples[side]) < 25:
                        examples[side].append(piece)
    report = {
        "input": str(args.input), "engine": args.engine, "documents": len(texts), "megabytes": round(megabytes, 2),
        "ours": {"cpu_s": round(ours_cpu, 3), "mb_per_cpu_s": round(megabytes / ours_cpu, 2)},
        "datatrove": {"cpu_s": round(theirs_run["cpu_s"], 3), "mb_per_cpu_s": round(megabytes / theirs_run["cpu_s"], 2)},
        "documents_changed": dict(docs), "replacements": dict(sorted(counts.items())), "examples": examples,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
