"""The report's summary of a whole table of rows at once: what ``pipelines.redecide`` reports.

The same counts as ``summary.Summary`` (the pipeline adds documents one by one inside a Beam combine),
computed on columns: values rounded to three significant digits with numpy, counted with ``np.unique``,
words counted by Arrow's whitespace split. The result has ``Summary.to_dict``'s form, so one renderer
draws both. (Python formats the handful of distinct rounded values, so a value lands on the same key as in
the pipeline's summary.)
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.report.summary import (EXAMPLES_PER_REASON, KEPT_EXAMPLES, TOP_LANGUAGES, rounded, rules_of,
                                     top_counts, why_dropped)
from schemas.outcomes import KEEP, SNIPPET_CHARS, word_count


def _dist(values: np.ndarray) -> list[list[float]]:
    """[[value rounded to 3 significant digits, n], ...] sorted, of the finite values."""
    values = values[np.isfinite(values)]
    if not len(values):
        return []
    magnitude = np.floor(np.log10(np.abs(np.where(values == 0, 1.0, values))))
    scale = 10.0 ** (2 - magnitude)
    approx, counts = np.unique(np.round(values * scale) / scale, return_counts=True)
    merged: dict[float, int] = {}
    for value, n in zip(approx.tolist(), counts.tolist()):
        key = rounded(value)
        merged[key] = merged.get(key, 0) + n
    return [[value, merged[value]] for value in sorted(merged)]


def word_counts(table: pa.Table) -> np.ndarray:
    """``summary.words_of`` on a whole table: the Gopher word count where the stage scored the row (every
    row with text in an annotate-only run), whitespace tokens otherwise; NaN for rows without text."""
    words = np.full(table.num_rows, np.nan)
    scores = table.column("scores")
    if "gopher_quality" in [f.name for f in scores.type]:
        words = pc.struct_field(pc.struct_field(scores, "gopher_quality"), "word_count").to_numpy(
            zero_copy_only=False).astype(np.float64)
    text = table.column("text")
    for i in np.flatnonzero(np.isnan(words)).tolist():
        row = text[i].as_py()
        if row is not None:
            words[i] = word_count(row)
    return words


def _top(values: list, limit: int = TOP_LANGUAGES) -> dict[str, int]:
    return top_counts(Counter(v for v in values if v), limit)


def summarize_table(table: pa.Table, recipe: Any) -> tuple[dict, dict[str, dict[int, int]]]:
    """(``Summary.to_dict()`` of every row of ``table``, duplicate cluster sizes by kind)."""
    decision = np.array(table.column("decision").to_pylist(), dtype=object)
    kept = (decision == KEEP) | (decision == None)  # noqa: E711
    scores_column = table.column("scores")
    scores, scored = {}, {}
    for stage in scores_column.type:
        column = pc.struct_field(scores_column, stage.name)
        valid = pc.is_valid(column).to_numpy(zero_copy_only=False)
        if valid.any():
            scored[stage.name] = int(valid.sum())
        for score in stage.type:
            values = pc.struct_field(column, score.name).to_numpy(zero_copy_only=False).astype(np.float64)
            measured = valid & np.isfinite(values)
            if not valid.any():
                continue
            key = f"{stage.name}.{score.name}"
            scores[key] = {"all": _dist(values[measured]), "kept": _dist(values[measured & kept]),
                           "unmeasured": int((valid & ~np.isfinite(values)).sum())}
    recipe_rules = rules_of(recipe)
    rules = []
    for rule in recipe_rules:
        column = pc.struct_field(pc.struct_field(scores_column, rule.stage), rule.score)
        fails = rule.fails(column.to_numpy(zero_copy_only=False).astype(np.float64))
        rules.append({"reason": rule.reason, "stage": rule.stage, "score": rule.score, "op": rule.op,
                      "threshold": rule.threshold, "fails": int(fails.sum())})
    text = table.column("text")
    words = word_counts(table)
    tokens = pc.fill_null(table.column("token_count"), -1).to_numpy(zero_copy_only=False).astype(np.float64)
    languages = table.column("language").to_pylist()
    buckets = table.column("ccnet_bucket").to_pylist()
    ids = table.column("id").to_pylist()
    order = np.argsort(np.array(ids, dtype=object), kind="stable")
    examples: dict[str, list[dict]] = {}
    urls = table.column("url")
    for i in order.tolist():
        reason = KEEP if kept[i] else decision[i]
        shown = examples.setdefault(reason, [])
        if len(shown) >= (KEPT_EXAMPLES if reason == KEEP else EXAMPLES_PER_REASON):
            continue
        row_text = text[i].as_py()
        why = "" if reason == KEEP else why_dropped(reason, scores_column[i].as_py(), languages[i], recipe_rules)
        shown.append({"id": ids[i], "url": urls[i].as_py() or "", "text": (row_text or "")[:SNIPPET_CHARS],
                      "why": why})
    summary = {
        "scores": dict(sorted(scores.items())),
        "scored": dict(sorted(scored.items())),
        "rules": rules,
        "words": {"all": _dist(words), "kept": _dist(words[kept])},
        "tokens": {"kept": _dist(tokens[kept & (tokens >= 0)])},
        "languages": {"all": _top(languages), "kept": _top([lang for lang, k in zip(languages, kept) if k])},
        "buckets": {"all": dict(sorted(_top(buckets, 10**9).items())),
                    "kept": dict(sorted(_top([b for b, k in zip(buckets, kept) if k], 10**9).items()))},
        "examples": dict(sorted(examples.items())),
    }
    clusters: dict[str, dict[int, int]] = {"exact": {}, "near": {}}
    duplicate_of = table.column("duplicate_of").to_pylist()
    for kind in ("exact", "near"):
        copies: dict[str, int] = {}
        for d, of in zip(decision, duplicate_of):
            if d == f"dedup:{kind}" and of:
                copies[of] = copies.get(of, 0) + 1
        sizes: dict[int, int] = {}
        for n in copies.values():
            sizes[n + 1] = sizes.get(n + 1, 0) + 1
        clusters[kind] = dict(sorted(sizes.items()))
    return summary, clusters
