"""Where a record ends: kept, dropped with a reason, an error row, or a skipped non-document record.

Every stage routes its documents to the same three outputs (``DOCS``, ``DROPPED``, ``ERRORS``; reading
adds ``SKIPPED``), so the pipeline can chain stages without knowing them and the funnel can count every
record once. The rows built here are what travels on the side outputs:

* a dropped document travels *light* (``light``): id, source, url, reason, the copy it duplicates, and
  what the run report shows of it (its scores, language, length in words and the opening of its text);
  never its whole text;
* a record that could not be processed is an ``ERROR_SCHEMA`` row (``error_row``) naming the file, the
  position to look at, and the reason ``stage:kind``.
"""

from __future__ import annotations

from typing import Any, Mapping

DOCS = "docs"
DROPPED = "dropped"
ERRORS = "errors"
SKIPPED = "skipped"
KEEP = "keep"
#: Characters of a document's text that the run report shows (a dropped document carries no more).
SNIPPET_CHARS = 300

#: The Beam metrics namespace of every drop reason (``stage:rule``), whichever stage decided it.
DROP_COUNTERS = "drop"


def is_kept(doc: Mapping[str, Any]) -> bool:
    """Not (yet) dropped: no decision, or ``keep``."""
    return doc.get("decision") in (None, KEEP)


def to_score(doc: Mapping[str, Any], annotate_only: bool) -> bool:
    """Whether a stage should still work on ``doc``: it is kept, or (annotate-only) an earlier stage scored
    it, so its row carries every score even after a decision (a page dropped at read time has none)."""
    return is_kept(doc) or (annotate_only and doc.get("scores") is not None)


def word_count(text: str) -> int:
    """Whitespace-separated words: the length the run report shows."""
    return len(text.split())


def light(doc: Mapping[str, Any]) -> dict:
    """What a dropped document still needs downstream: enough to count it, to say where it was, and to show
    it in the run report (``pipelines/report``)."""
    text = doc.get("text")
    return {"id": doc["id"], "source": doc["source"], "url": doc.get("url"), "decision": doc.get("decision"),
            "duplicate_of": doc.get("duplicate_of"), "scores": doc.get("scores"), "language": doc.get("language"),
            "ccnet_bucket": doc.get("ccnet_bucket"), "snippet": text[:SNIPPET_CHARS] if text else None,
            "words": word_count(text) if text is not None else None}


def error_row(source: str, position: object, reason: str, message: str, record_id: str = "", url: str = "") -> dict:
    """An ``ERROR_SCHEMA`` row: the input file, where in it (byte offset, line, record or document id),
    the record's own id and URL when known, the reason ``stage:kind`` and a message cut to 2,000 chars."""
    return {
        "source": source,
        "position": str(position),
        "record_id": record_id or "",
        "url": url or "",
        "reason": reason,
        "message": message[:2000],
    }
