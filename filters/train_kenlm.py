"""Train a reference model pair with CCNet's recipe: SentencePiece on the normalized text, KenLM on its pieces.

    python -m filters.train_kenlm --text 'wiki/*.gz' --out models/en.arpa.bin   # + models/en.sp.model
    python -m filters.train_kenlm --build-tools          # only build lmplz + build_binary into the cache

cc_net's Makefile (``lm`` target), step by step:

1. ``get_wiki_cirrus.py opening``: each article's opening text, ``text_normalizer.normalize``d, one per
   line. Here: documents (one per WikiExtractor ``<doc>`` block, JSONL/Parquet row, or plain-text line)
   through ``perplexity.normalize``, one per line (:func:`documents`).
2. ``spm_train --vocab_size=65536 --hard_vocab_limit --character_coverage=0.9995 --model_type=unigram``,
   retried without the hard limit when the text is too small for the vocabulary (:func:`train_sentencepiece`).
3. ``spm_encode --output_format=piece`` of the same lines.
4. ``lmplz -o 5 --discount_fallback`` on the pieces, then ``build_binary`` (:func:`train`). cc_net prunes
   nothing; ``--prune`` and 8-bit quantization keep a shipped model small (filters/models/README.md
   measures what they cost).

Reads local or gs:// / s3:// files through Beam's FileSystems (.gz/.bz2/.zst undone by extension). Same
input and options → byte-identical models (SentencePiece trains on one thread for that).

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
from pathlib import Path
from typing import Iterable, Iterator

from filters.perplexity import normalize, sentencepiece_path

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
_DOC_OPEN = re.compile(r'^<doc id="[^"]*"[^>]*>$')
_DOC_CLOSE = "</doc>"


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
    """The documents of one file: a JSONL / Parquet row's ``text_column``; a WikiExtractor article (its
    ``<doc>`` block, title line dropped, paragraphs joined by a space); or else each non-empty line.

    Paragraphs are joined with a space because cc_net trains on a CirrusSearch dump's ``opening_text``,
    the lead as one run of text; joined with "\n" they would be glued word to word by ``normalize``.
    """
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
        lines = (line.decode("utf-8", errors="replace").rstrip("\r\n") for line in iter(raw.readline, b""))
        if fmt == "jsonl":
            yield from _jsonl_texts(path, lines, text_column)
        else:
            yield from _plain_texts(lines)


def _plain_texts(lines: Iterable[str]) -> Iterator[str]:
    article: list[str] | None = None  # inside a <doc> block: its lines after the title
    title = False
    for line in lines:
        if _DOC_OPEN.match(line):
            article, title = [], True
        elif line == _DOC_CLOSE and article is not None:
            text = " ".join(p.strip() for p in article if p.strip())
            if text:
                yield text
            article = None
        elif article is not None:
            if title:  # the first line of a block is the article's title
                title = False
            else:
                article.append(line)
        elif line.strip():
            yield line


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


def documents(paths: Iterable[str], text_column: str = "text", max_words: int | None = None) -> Iterator[str]:
    """Normalized non-empty documents (one line each), in file order, up to ``max_words`` words."""
    words = 0
    for path in paths:
        for text in read_texts(path, text_column):
            line = normalize(text)
            if not line:
                continue
            yield line
            words += line.count(" ") + 1
            if max_words is not None and words >= max_words:
                return


# --------------------------------------------------------------------------------------- training


def train_sentencepiece(text: Path, prefix: Path, vocab_size: int = 65536) -> Path:
    """cc_net's ``spm_train`` call (unigram, ``--hard_vocab_limit``, ``--character_coverage=0.9995``), and
    its fallback without the hard limit when the text has too few distinct pieces for ``vocab_size``.

    Two deviations, both for this machine: one thread (SentencePiece's multi-threaded EM does not promise
    the same model twice), and no 4,192-byte cap on a line (``max_sentence_length``: cc_net's opening texts
    are short; whole articles are not, and SentencePiece would skip them).
    """
    import io

    import sentencepiece as spm

    def attempt(hard_vocab_limit: bool) -> bytes:
        # Lines from an iterator and the model into memory: a model trained from a path records that path
        # (a temporary folder here), and two runs would differ in those bytes alone.
        model = io.BytesIO()
        with open(text, encoding="utf-8") as lines:
            spm.SentencePieceTrainer.train(
                sentence_iterator=(line.rstrip("\n") for line in lines), model_writer=model,
                vocab_size=vocab_size, hard_vocab_limit=hard_vocab_limit, character_coverage=0.9995,
                model_type="unigram", num_threads=1, max_sentence_length=1 << 30, minloglevel=2)
        return model.getvalue()

    try:
        model = attempt(hard_vocab_limit=True)
    except RuntimeError as err:
        log.warning("SentencePiece: %s; training again without --hard_vocab_limit, as cc_net does", err)
        model = attempt(hard_vocab_limit=False)
    path = prefix.with_suffix(".model")
    path.write_bytes(model)
    return path


def train(
    docs: Iterable[str],
    out: str,
    *,
    vocab_size: int = 65536,
    sentencepiece: str | None = None,
    order: int = 5,
    prune: list[int] | None = None,
    quantize: int | None = 8,
    array_bits: int | None = None,
    memory: str = "1G",
    data_structure: str = "trie",
    keep_arpa: str | None = None,
    tools: dict[str, Path] | None = None,
) -> dict:
    """Train the pair on normalized ``docs``: the KenLM model at ``out`` and, beside it, the SentencePiece
    model (``perplexity.sentencepiece_path(out)``), trained here unless ``sentencepiece`` names one to
    reuse. Returns counts and sizes. ``out`` may be a FileSystems path (gs://, s3://)."""
    import sentencepiece as spm

    if not 1 <= order <= MAX_ORDER:
        raise ValueError(f"--order {order}: KenLM here (lmplz build and the kenlm wheels) supports 1..{MAX_ORDER}")
    tools = tools or ensure_tools()
    with tempfile.TemporaryDirectory(prefix="train-kenlm-") as tmp:
        text, tokenized = Path(tmp) / "text.txt", Path(tmp) / "pieces.txt"
        arpa, binary = Path(tmp) / "model.arpa", Path(tmp) / "model.binary"
        n_docs = n_words = 0
        with open(text, "w", encoding="utf-8") as handle:
            for doc in docs:
                handle.write(doc + "\n")
                n_docs += 1
                n_words += len(doc.split())
        if n_words == 0:
            raise ValueError("no training text: every input document was empty after normalization")
        started = time.monotonic()
        sp_model = Path(sentencepiece) if sentencepiece else train_sentencepiece(text, Path(tmp) / "sp", vocab_size)
        sp_seconds = time.monotonic() - started
        sp = spm.SentencePieceProcessor(model_file=str(sp_model))
        n_pieces = 0
        with open(text, encoding="utf-8") as source, open(tokenized, "w", encoding="utf-8") as handle:
            for doc in source:
                encoded = sp.encode_as_pieces(doc.rstrip("\n"))
                n_pieces += len(encoded)
                handle.write(" ".join(encoded) + "\n")
        text.unlink()
        # --skip_symbols: a literal "<s>" or "<unk>" in web text is whitespace, not a fatal error.
        cmd = [str(tools["lmplz"]), "-o", str(order), "-S", memory, "-T", tmp + "/", "--discount_fallback",
               "--skip_symbols", "--text", str(tokenized), "--arpa", str(arpa)]
        if prune:
            cmd += ["--prune", *map(str, prune)]
        _run(cmd, "lmplz")
        tokenized.unlink()
        cmd = [str(tools["build_binary"]), "-S", memory, "-T", tmp + "/"]
        if data_structure == "trie":  # quantization and pointer compression exist only for the trie
            if quantize:
                cmd += ["-q", str(quantize), "-b", str(quantize)]
            if array_bits:
                cmd += ["-a", str(array_bits)]
        _run([*cmd, data_structure, str(arpa), str(binary)], "build_binary")
        stats = {"documents": n_docs, "words": n_words, "pieces": n_pieces, "vocab_size": sp.get_piece_size(),
                 "sentencepiece_seconds": round(sp_seconds, 1), "arpa_bytes": arpa.stat().st_size,
                 "binary_bytes": binary.stat().st_size, "sentencepiece_bytes": sp_model.stat().st_size,
                 "ngrams": _arpa_counts(arpa)}
        if keep_arpa:
            _copy_out(arpa, keep_arpa)
        _copy_out(binary, out)
        if not sentencepiece or sentencepiece != sentencepiece_path(out):
            _copy_out(sp_model, sentencepiece_path(out))
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
                        help="WikiExtractor files (an article a document), JSONL (.gz/.zst) or Parquet (a row a "
                             "document), or plain text (a line a document)")
    parser.add_argument("--out", help="output KenLM model, e.g. models/en.arpa.bin (local or gs:// / s3://); "
                                      "the SentencePiece model is written beside it (models/en.sp.model)")
    parser.add_argument("--vocab_size", type=int, default=65536, help="SentencePiece pieces (CCNet: 65536)")
    parser.add_argument("--sentencepiece", metavar="MODEL",
                        help="reuse this SentencePiece model instead of training one (copied beside --out)")
    parser.add_argument("--order", type=int, default=5, help=f"n-gram order (CCNet: 5; at most {MAX_ORDER})")
    parser.add_argument("--prune", type=int, nargs="+", metavar="N",
                        help="lmplz --prune thresholds per order, e.g. 0 1 1 drops singleton 2-grams and up "
                             "(CCNet: none)")
    parser.add_argument("--text_column", default="text", help="JSONL key / Parquet column holding the text")
    parser.add_argument("--max_words", type=int, help="stop after this many training words (first files first)")
    parser.add_argument("--quantize", type=int, default=8, help="bits for probabilities and backoffs (0: off)")
    parser.add_argument("--array_bits", type=int, help="build_binary -a: compress trie pointers (255: smallest)")
    parser.add_argument("--data_structure", choices=("trie", "probing"), default="trie")
    parser.add_argument("--memory", default="1G",
                        help="lmplz/build_binary -S sort memory (e.g. 1G, 20%%); more is faster on big corpora")
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
        if args.sentencepiece and not Path(args.sentencepiece).is_file():
            raise FileNotFoundError(f"--sentencepiece {args.sentencepiece}: no such file")
        paths = expand(args.text)
        started = time.monotonic()
        stats = train(
            documents(paths, args.text_column, args.max_words), args.out, vocab_size=args.vocab_size,
            sentencepiece=args.sentencepiece, order=args.order, prune=args.prune, quantize=args.quantize or None,
            array_bits=args.array_bits, memory=args.memory, data_structure=args.data_structure,
            keep_arpa=args.keep_arpa, tools=tools,
        )
    except (ToolsError, FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"train_kenlm: {err}", file=sys.stderr)
        return 1
    stats.update(files=len(paths), seconds=round(time.monotonic() - started, 1), out=args.out,
                 sentencepiece=sentencepiece_path(args.out))
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
