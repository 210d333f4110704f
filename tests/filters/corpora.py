"""Readers of the shared text corpora the quality model is trained and tested on (``../shared/data/quality``):
WikiExtractor article files and the NLTK speeches. Used by ``tests/filters/test_quality.py`` and by
``bench/build_quality_model.py``, which builds the reference-prose model (the default until issue 16)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Iterator

WIKI_HELD_OUT = "wiki_19.gz"  # tests/filters/test_quality.py quotes articles of this file

_DOC_RE = re.compile(r'<doc id="[^"]*" url="[^"]*" title="([^"]*)">\n(.*?)</doc>', re.S)


def wikipedia_articles(folder: Path, skip: tuple[str, ...] = (WIKI_HELD_OUT,)) -> Iterator[str]:
    """Article bodies of WikiExtractor files (the repeated title line is dropped)."""
    for path in sorted(folder.glob("wiki_*.gz")):
        if path.name in skip:
            continue
        for title, body in _DOC_RE.findall(gzip.decompress(path.read_bytes()).decode("utf-8")):
            lines = body.strip("\n").split("\n")
            if lines and lines[0].strip() == title.strip():
                lines = lines[1:]
            yield "\n".join(lines).strip()


# Seven NLTK speeches (1970-74 Nixon, 2005 Bush, 1954 Eisenhower) are not UTF-8: their punctuation is
# Big5 double-byte (em dash, curly quotes, ellipsis, ideographic space) in otherwise ASCII text.
_BIG5_PUNCTUATION = {b"\xa1@": " ", b"\xa1X": "\u2014", b"\xa1\xa6": "\u2019", b"\xa1\xa7": "\u201c",
                     b"\xa1\xa8": "\u201d", b"\xa1K": "\u2026"}


def decode_speech(data: bytes) -> str:
    """UTF-8; else the Big5 punctuation above, and cp1252 for any other invalid byte (one stray "½¢")."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        for raw, char in _BIG5_PUNCTUATION.items():
            data = data.replace(raw, char.encode("utf-8"))
        text = data.decode("utf-8", errors="surrogateescape")
        return _ESCAPED.sub(lambda m: m.group().encode("utf-8", "surrogateescape").decode("cp1252", "replace"), text)


_ESCAPED = re.compile("[\udc80-\udcff]+")


def speeches(folder: Path) -> Iterator[str]:
    """Public-domain State of the Union and inaugural addresses, one document per speech."""
    for corpus in ("state_union", "inaugural"):
        for path in sorted((folder / corpus).glob("*.txt.gz")):
            yield decode_speech(gzip.decompress(path.read_bytes()))
