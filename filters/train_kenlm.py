"""Train a KenLM n-gram model on text normalized exactly as ``filters.perplexity`` scores it.

    python -m filters.train_kenlm --text 'wiki/*.gz' --order 5 --out model.binary [--prune 0 0 1]
    python -m filters.train_kenlm --build-tools          # only build lmplz + build_binary into the cache

Pipeline: read lines (text files, JSONL, Parquet; local or gs:// / s3:// through Beam's FileSystems;
.gz/.bz2/.zst undone by FileSystems) → ``perplexity.normalize`` (optionally SentencePiece) → a temporary
corpus file → ``lmplz`` (ARPA; ``--discount_fallback`` as CCNet) → ``build_binary`` (trie, 8-bit
quantized by default). Same input and options → byte-identical model.

Why the tools are built here: ``lmplz``/``build_binary`` are C++ programs that no wheel ships (the
``kenlm``/``ufal-kenlm`` wheels only contain the query side). When they are neither on PATH nor in
``$KENLM_BIN`` nor in the cache (``~/.cache/webcurate/kenlm/bin``), they are built from the pinned kenlm
sdist (version and sha256 below) with cmake; that needs a C++ compiler and Boost:

    apt-get install -y cmake g++ make libboost-program-options-dev libboost-system-dev \\
        libboost-thread-dev libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator

from filters.perplexity import Tokenizer, normalize, sentencepiece_tokenizer

log = logging.getLogger("train_kenlm")

KENLM_VERSION = "0.3.0"
MAX_ORDER = 6  # KENLM_MAX_ORDER of our build_binary and of the kenlm / ufal-kenlm wheels
KENLM_SDIST_SHA256 = "c4628bb9fb63c8a6f9240035b8b037385cfc404cb72e933cf48878291edac1e8"
TOOLS = ("lmplz", "build_binary")
APT_LINE = (
    "apt-get install -y cmake g++ make libboost-program-options-dev libboost-system-dev "
    "libboost-thread-dev libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev"
)
# WikiExtractor wraps each article in <doc id=... url=... title=...> ... </doc> lines: markup, not text.
_WIKIEXTRACTOR_TAG = re.compile(r'^(<doc id="[^"]*"[^>]*>|</doc>)$')


class ToolsError(RuntimeError):
    """lmplz/build_binary are missing and cannot be built here; the message says what to install."""


# --------------------------------------------------------------------------------------- tools


def cache_bin() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "webcurate" / "kenlm" / "bin"


def find_tools() -> dict[str, Path] | None:
    """Paths of lmplz and build_binary: ``$KENLM_BIN``, then PATH, then the cache; None if any is missing."""
    found: dict[str, Path] = {}
    for tool in TOOLS:
        candidates = []
        if os.environ.get("KENLM_BIN"):
            candidates.append(Path(os.environ["KENLM_BIN"]) / tool)
        on_path = shutil.which(tool)
        if on_path:
            candidates.append(Path(on_path))
        candidates.append(cache_bin() / tool)
        hit = next((c for c in candidates if c.is_file() and os.access(c, os.X_OK)), None)
        if hit is None:
            return None
        found[tool] = hit
    return found


def build_tools(sdist: Path | None = None, jobs: int | None = None) -> dict[str, Path]:
    """Build lmplz and build_binary from the pinned kenlm sdist into the cache; return their paths.

    ``sdist``: a local kenlm-0.3.0.tar.gz (offline machines); otherwise ``pip download`` fetches it. The
    archive's sha256 is checked either way, so every build compiles the same sources.
    """
    missing = [tool for tool in ("cmake", "make") if shutil.which(tool) is None]
    if not (shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")):
        missing.append("a C++ compiler (g++)")
    if missing:
        raise ToolsError(f"building lmplz needs {', '.join(missing)}; on Debian/Ubuntu: {APT_LINE}")
    started = time.monotonic()
    target = cache_bin()
    with tempfile.TemporaryDirectory(prefix="kenlm-build-") as tmp:
        work = Path(tmp)
        if sdist is None:
            log.info("downloading the kenlm %s sdist with pip", KENLM_VERSION)
            _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", "kenlm",
                  f"kenlm=={KENLM_VERSION}", "--dest", str(work)], "pip download of the kenlm sdist")
            sdist = work / f"kenlm-{KENLM_VERSION}.tar.gz"
        digest = hashlib.sha256(Path(sdist).read_bytes()).hexdigest()
        if digest != KENLM_SDIST_SHA256:
            raise ToolsError(f"{sdist}: sha256 {digest} is not kenlm {KENLM_VERSION}'s {KENLM_SDIST_SHA256}")
        with tarfile.open(sdist) as archive:
            archive.extractall(work / "src", filter="data")
        source = work / "src" / f"kenlm-{KENLM_VERSION}"
        build = work / "build"
        configure = subprocess.run(
            ["cmake", "-S", str(source), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release", "-DKENLM_MAX_ORDER=6"],
            capture_output=True, text=True,
        )
        if configure.returncode != 0:
            detail = configure.stderr[-1500:]
            if "Boost" in configure.stdout + configure.stderr:
                raise ToolsError(f"cmake could not find Boost, which lmplz needs. On Debian/Ubuntu: {APT_LINE}\n"
                                 f"{detail}")
            raise ToolsError(f"cmake failed configuring kenlm {KENLM_VERSION}:\n{detail}")
        log.info("compiling lmplz and build_binary (about 1-2 minutes)")
        _run(["cmake", "--build", str(build), "--target", *TOOLS, "--", f"-j{jobs or os.cpu_count() or 1}"],
             "compiling lmplz/build_binary")
        target.mkdir(parents=True, exist_ok=True)
        for tool in TOOLS:
            staged = target / f".{tool}.tmp"
            shutil.copy2(build / "bin" / tool, staged)
            os.replace(staged, target / tool)  # atomic: a concurrent caller sees the old tool or the new one
    log.info("built kenlm %s tools in %s (%.0f s)", KENLM_VERSION, target, time.monotonic() - started)
    return {tool: target / tool for tool in TOOLS}


def ensure_tools(build: bool = True) -> dict[str, Path]:
    tools = find_tools()
    if tools is not None:
        return tools
    if not build:
        raise ToolsError(f"lmplz/build_binary not found on PATH, in $KENLM_BIN or in {cache_bin()}; "
                         "run python -m filters.train_kenlm --build-tools")
    log.warning("lmplz/build_binary not found on PATH, in $KENLM_BIN or in %s: building kenlm %s from source "
                "(needs cmake, g++ and Boost: %s)", cache_bin(), KENLM_VERSION, APT_LINE)
    return build_tools()


def _run(cmd: list[str], what: str) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise ToolsError(f"{what} failed (exit {result.returncode}):\n{(result.stderr or result.stdout)[-2000:]}")


# --------------------------------------------------------------------------------------- reading


def expand(patterns: Iterable[str]) -> list[str]:
    """Files matching each pattern (globs, gs://, s3://), in sorted order so training is deterministic."""
    from apache_beam.io.filesystems import FileSystems

    paths: list[str] = []
    for pattern in patterns:
        matched = sorted(m.path for result in FileSystems.match([pattern]) for m in result.metadata_list)
        if not matched:
            raise FileNotFoundError(f"--text {pattern}: no file matches")
        paths.extend(matched)
    return paths


def _format(path: str) -> str:
    name = path.lower()
    for suffix in (".gz", ".bz2", ".zst", ".zstd"):
        name = name.removesuffix(suffix)
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    return "text"


def read_texts(path: str, text_column: str = "text") -> Iterator[str]:
    """The texts of one file: a text file is one text; JSONL / Parquet give one per row's ``text_column``."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    fmt = _format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
            parquet = pq.ParquetFile(raw)
            if text_column not in parquet.schema_arrow.names:
                raise ValueError(f"{path}: no column {text_column!r}; pass --text_column")
            for batch in parquet.iter_batches(batch_size=1024, columns=[text_column]):
                yield from (t for t in batch.column(0).to_pylist() if isinstance(t, str))
        return
    with FileSystems.open(path) as raw:  # AUTO compression: .gz, .bz2, .zst by extension
        # readline() rather than io.TextIOWrapper: Beam's CompressedFile is not a full io object.
        lines = (line.decode("utf-8", errors="replace") for line in iter(raw.readline, b""))
        if fmt == "jsonl":
            yield from _jsonl_texts(path, lines, text_column)
        else:
            yield "".join(line for line in lines if not _WIKIEXTRACTOR_TAG.match(line.rstrip("\n")))


def _jsonl_texts(path: str, lines: Iterable[str], text_column: str) -> Iterator[str]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            log.warning("%s line %d: not JSON, skipped", path, number)
            continue
        text = row.get(text_column) if isinstance(row, dict) else None
        if isinstance(text, str):
            yield text


def training_lines(
    paths: Iterable[str], text_column: str = "text", tokenize: Tokenizer | None = None, max_words: int | None = None
) -> Iterator[str]:
    """Normalized (and optionally tokenized) non-empty lines, in file order, up to ``max_words`` words."""
    words = 0
    for path in paths:
        for text in read_texts(path, text_column):
            for line in normalize(text).split("\n"):
                if tokenize is not None:
                    line = tokenize(line)
                if not line:
                    continue
                yield line
                words += len(line.split())
                if max_words is not None and words >= max_words:
                    return


# --------------------------------------------------------------------------------------- training


def train(
    lines: Iterable[str],
    out: str,
    *,
    order: int = 5,
    prune: list[int] | None = None,
    min_word_count: int = 1,
    quantize: int | None = 8,
    array_bits: int | None = None,
    memory: str = "1G",
    data_structure: str = "trie",
    keep_arpa: str | None = None,
    tools: dict[str, Path] | None = None,
) -> dict:
    """Write ``lines`` to a corpus file, run lmplz then build_binary; return counts and sizes.

    ``min_word_count`` > 1 limits the vocabulary to words seen that often (lmplz ``--limit_vocab_file``:
    n-grams with a rarer word are pruned). In a 3M-word corpus most of the vocabulary is singletons
    (names, typos) whose unigrams and bigrams dominate the model's size while barely moving document
    rankings. ``out`` may be a FileSystems path (gs://, s3://).
    """
    if not 1 <= order <= MAX_ORDER:
        raise ValueError(f"--order {order}: KenLM here (lmplz build and the kenlm wheels) supports 1..{MAX_ORDER}")
    tools = tools or ensure_tools()
    with tempfile.TemporaryDirectory(prefix="train-kenlm-") as tmp:
        corpus, arpa, binary = Path(tmp) / "corpus.txt", Path(tmp) / "model.arpa", Path(tmp) / "model.binary"
        counts: Counter[str] = Counter()
        n_lines = n_words = 0
        with open(corpus, "w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(line + "\n")
                words = line.split()
                n_lines += 1
                n_words += len(words)
                counts.update(words)
        if n_words == 0:
            raise ValueError("no training text: every input line was empty after normalization")
        # --skip_symbols: a literal "<s>" or "<unk>" in web text is whitespace, not a fatal error.
        cmd = [str(tools["lmplz"]), "-o", str(order), "-S", memory, "-T", tmp + "/", "--discount_fallback",
               "--skip_symbols", "--text", str(corpus), "--arpa", str(arpa)]
        if prune:
            cmd += ["--prune", *map(str, prune)]
        if min_word_count > 1:
            vocab = Path(tmp) / "vocab.txt"
            vocab.write_text("\n".join(w for w, c in counts.items() if c >= min_word_count), encoding="utf-8")
            cmd += ["--limit_vocab_file", str(vocab)]
        _run(cmd, "lmplz")
        corpus.unlink()
        cmd = [str(tools["build_binary"]), "-S", memory, "-T", tmp + "/"]
        if data_structure == "trie":  # quantization and pointer compression exist only for the trie
            if quantize:
                cmd += ["-q", str(quantize), "-b", str(quantize)]
            if array_bits:
                cmd += ["-a", str(array_bits)]
        _run([*cmd, data_structure, str(arpa), str(binary)], "build_binary")
        stats = {"lines": n_lines, "words": n_words, "distinct_words": len(counts),
                 "arpa_bytes": arpa.stat().st_size, "binary_bytes": binary.stat().st_size,
                 "ngrams": _arpa_counts(arpa)}
        if keep_arpa:
            _copy_out(arpa, keep_arpa)
        _copy_out(binary, out)
    return stats


def _arpa_counts(arpa: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    with open(arpa, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("ngram "):
                n, count = line[6:].strip().split("=")
                counts[int(n)] = int(count)
            elif line.startswith("\\1-grams:"):
                break
    return counts


def _copy_out(local: Path, dest: str) -> None:
    if "://" not in dest:
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, dest)
        return
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    with open(local, "rb") as src, FileSystems.create(dest, compression_type=CompressionTypes.UNCOMPRESSED) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


# --------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m filters.train_kenlm", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", nargs="+", metavar="FILE_OR_GLOB",
                        help="text files (WikiExtractor <doc> lines are dropped), JSONL (.gz/.zst) or Parquet")
    parser.add_argument("--out", help="output model (.binary); local or gs:// / s3://")
    parser.add_argument("--order", type=int, default=5, help=f"n-gram order (CCNet: 5; at most {MAX_ORDER})")
    parser.add_argument("--prune", type=int, nargs="+", metavar="N",
                        help="lmplz --prune thresholds per order, e.g. 0 0 1 drops singleton 3-grams and up")
    parser.add_argument("--min_word_count", type=int, default=1,
                        help="keep only words seen at least this often in the vocabulary (1: all, as CCNet)")
    parser.add_argument("--text_column", default="text", help="JSONL key / Parquet column holding the text")
    parser.add_argument("--max_words", type=int, help="stop after this many training words (first files first)")
    parser.add_argument("--quantize", type=int, default=8, help="bits for probabilities and backoffs (0: off)")
    parser.add_argument("--array_bits", type=int, help="build_binary -a: compress trie pointers (255: smallest)")
    parser.add_argument("--data_structure", choices=("trie", "probing"), default="trie")
    parser.add_argument("--memory", default="1G",
                        help="lmplz/build_binary -S sort memory (e.g. 1G, 20%%); more is faster on big corpora")
    parser.add_argument("--sentencepiece", metavar="MODEL",
                        help="tokenize normalized lines with this SentencePiece model (as CCNet); score with "
                             "perplexity.sentencepiece_tokenizer(MODEL)")
    parser.add_argument("--keep_arpa", metavar="PATH", help="also write the ARPA file here")
    parser.add_argument("--build-tools", "--build_tools", dest="build_tools", action="store_true",
                        help="build lmplz/build_binary into the cache even if found (alone: only build)")
    parser.add_argument("--no-build", dest="no_build", action="store_true",
                        help="fail instead of building lmplz/build_binary when they are missing")
    parser.add_argument("--kenlm_sdist", type=Path, help=f"local kenlm-{KENLM_VERSION}.tar.gz (offline build)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        if args.build_tools:
            tools = build_tools(args.kenlm_sdist)
            if not args.text:
                print(json.dumps({tool: str(path) for tool, path in tools.items()}))
                return 0
        if not args.text or not args.out:
            parser.error("--text and --out are required (or --build-tools alone)")
        if args.kenlm_sdist and find_tools() is None:
            build_tools(args.kenlm_sdist)
        tools = ensure_tools(build=not args.no_build)
        tokenize = sentencepiece_tokenizer(args.sentencepiece) if args.sentencepiece else None
        paths = expand(args.text)
        started = time.monotonic()
        stats = train(
            training_lines(paths, args.text_column, tokenize, args.max_words), args.out,
            order=args.order, prune=args.prune, min_word_count=args.min_word_count, quantize=args.quantize or None,
            array_bits=args.array_bits, memory=args.memory, data_structure=args.data_structure,
            keep_arpa=args.keep_arpa, tools=tools,
        )
    except (ToolsError, FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"train_kenlm: {err}", file=sys.stderr)
        return 1
    stats.update(files=len(paths), seconds=round(time.monotonic() - started, 1), out=args.out)
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
