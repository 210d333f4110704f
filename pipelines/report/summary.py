"""What the run report shows, gathered in one pass over every decided document: pure and mergeable.

``Summary`` is the accumulator of a Beam ``CombineFn`` (``pipelines/report/transforms.py``): documents are
added on every worker, partial summaries merged in any order, and the result is the same whatever the
bundling, because every part is a count (integer sums commute) or the few smallest ids of a group.

Score distributions are exact counts of each value rounded to three significant digits: no bin edges have
to be chosen before the data is seen (one pass, any score's range), the display error is under 0.5% of a
value, and the number of distinct keys stays small (at most ~900 per decade). The share of documents a rule
fails is counted on the exact values, not the rounded ones.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from filters.decide import Rule
from schemas.outcomes import KEEP, SNIPPET_CHARS, is_kept, word_count

#: Documents shown per drop reason, and kept documents shown, in the report: those with the smallest ids
#: (ids are hashes, so a fair and deterministic sample).
EXAMPLES_PER_REASON = 3
KEPT_EXAMPLES = 5
#: How many languages the summary counts by name; the rest are one "other".
TOP_LANGUAGES = 40


def rounded(value: float) -> float:
    """``value`` to three significant digits: the key of its count in a distribution."""
    return float(f"{value:.3g}")


@dataclass
class Summary:
    """Counts of everything the report draws. ``all`` counts every document that reached a stage (or has
    the field), ``kept`` the kept ones: each pair becomes a histogram of all with the kept drawn over it."""

    rules: tuple[Rule, ...] = ()  # the recipe's (``rules_of``): how many documents each fails
    scores: defaultdict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # "stage.score" -> value -> n
    scores_kept: defaultdict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    unmeasured: Counter = field(default_factory=Counter)  # "stage.score" -> NaN / null values among scored
    scored: Counter = field(default_factory=Counter)  # stage -> documents it scored
    fails: Counter = field(default_factory=Counter)  # stage:rule -> documents whose score fails the rule
    words: Counter = field(default_factory=Counter)
    words_kept: Counter = field(default_factory=Counter)
    tokens_kept: Counter = field(default_factory=Counter)
    languages: Counter = field(default_factory=Counter)
    languages_kept: Counter = field(default_factory=Counter)
    buckets: Counter = field(default_factory=Counter)
    buckets_kept: Counter = field(default_factory=Counter)
    #: reason -> (id, url, opening of the text, the failing score as "score = value")
    examples: dict[str, list[tuple[str, str, str, str]]] = field(default_factory=dict)

    def add(self, doc: Mapping[str, Any]) -> None:
        """Count one decided document: a written row, or a dropped document's light record."""
        kept = is_kept(doc)
        scores, scores_kept = self.scores, self.scores_kept
        for stage, values in (doc.get("scores") or {}).items():
            if values is None:
                continue
            self.scored[stage] += 1
            for name, value in values.items():
                key = f"{stage}.{name}"
                if value is None or value != value:  # null or NaN: not measured
                    self.unmeasured[key] += 1
                    continue
                value = float(f"{value:.3g}")  # rounded(), inlined: this loop runs ~50 times a document
                scores[key][value] += 1
                if kept:
                    scores_kept[key][value] += 1
        for rule in self.rules:
            stage_scores = (doc.get("scores") or {}).get(rule.stage)
            if stage_scores is not None and not rule.keeps(stage_scores):  # an unmeasured score abstains
                self.fails[rule.reason] += 1
        text = doc.get("text")
        words = words_of(doc)
        if words is not None:
            self.words[rounded(words)] += 1
            if kept:
                self.words_kept[rounded(words)] += 1
        if kept and doc.get("token_count") is not None:
            self.tokens_kept[rounded(doc["token_count"])] += 1
        if doc.get("language"):
            self.languages[doc["language"]] += 1
            if kept:
                self.languages_kept[doc["language"]] += 1
        if doc.get("ccnet_bucket"):
            self.buckets[doc["ccnet_bucket"]] += 1
            if kept:
                self.buckets_kept[doc["ccnet_bucket"]] += 1
        reason = KEEP if kept else doc["decision"]
        snippet = doc["snippet"] if "snippet" in doc else (text or "")[:SNIPPET_CHARS]
        self._example(reason, (doc["id"], doc.get("url") or "", snippet or "", self._why(reason, doc)))

    def _why(self, reason: str, doc: Mapping[str, Any]) -> str:
        return why_dropped(reason, doc.get("scores"), doc.get("language"), self.rules)

    def _example(self, reason: str, example: tuple[str, str, str, str]) -> None:
        limit = KEPT_EXAMPLES if reason == KEEP else EXAMPLES_PER_REASON
        shown = self.examples.setdefault(reason, [])
        if len(shown) < limit:
            shown.append(example)
            shown.sort()
        elif example < shown[-1]:
            shown[-1] = example
            shown.sort()

    def merge(self, other: "Summary") -> None:
        """Add ``other``'s counts to this one (``other`` is left as it was)."""
        for mine, theirs in ((self.scores, other.scores), (self.scores_kept, other.scores_kept)):
            for key, counts in theirs.items():
                mine[key].update(counts)
        for name in ("unmeasured", "scored", "fails", "words", "words_kept", "tokens_kept", "languages",
                     "languages_kept", "buckets", "buckets_kept"):
            getattr(self, name).update(getattr(other, name))
        for reason, shown in other.examples.items():
            for example in shown:
                self._example(reason, example)

    def to_dict(self) -> dict:
        """Plain, sorted, JSON-ready: what the report renders (``pipelines/report/html.py``)."""
        def dist(counts: Counter) -> list[list[float]]:
            return [[value, n] for value, n in sorted(counts.items())]

        return {
            "scores": {key: {"all": dist(self.scores[key]), "kept": dist(self.scores_kept.get(key, Counter())),
                             "unmeasured": self.unmeasured.get(key, 0)} for key in sorted(self.scores)}
            | {key: {"all": [], "kept": [], "unmeasured": n} for key, n in sorted(self.unmeasured.items())
               if key not in self.scores},
            "scored": dict(sorted(self.scored.items())),
            "rules": [{"reason": r.reason, "stage": r.stage, "score": r.score, "op": r.op, "threshold": r.threshold,
                       "fails": self.fails.get(r.reason, 0)} for r in self.rules],
            "words": {"all": dist(self.words), "kept": dist(self.words_kept)},
            "tokens": {"kept": dist(self.tokens_kept)},
            "languages": {"all": top_counts(self.languages), "kept": top_counts(self.languages_kept)},
            "buckets": {"all": dict(sorted(self.buckets.items())), "kept": dict(sorted(self.buckets_kept.items()))},
            "examples": {reason: [{"id": i, "url": u, "text": t, "why": w} for i, u, t, w in shown]
                         for reason, shown in sorted(self.examples.items())},
        }


def why_dropped(reason: str, scores: Mapping[str, Any] | None, language: str | None, rules: tuple[Rule, ...]) -> str:
    """What an example shows beside a drop: the value that failed the rule named ``reason``, or the language
    a ``language:not_kept`` page is in; "" for any other reason."""
    for rule in rules:
        if rule.reason == reason:
            value = ((scores or {}).get(rule.stage) or {}).get(rule.score)
            return "" if value is None else f"{rule.score} = {value:.4g}, kept when {rule}"
    if reason == "language:not_kept" and language:
        return f"language {language}"
    return ""


def top_counts(counts: Mapping[str, int], limit: int = TOP_LANGUAGES) -> dict[str, int]:
    """The ``limit`` largest counts by name (ties by name), the rest summed as "other"."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    rest = sum(n for _, n in ranked[limit:])
    return {**dict(ranked[:limit]), "other": rest} if rest else dict(ranked[:limit])


def words_of(doc: Mapping[str, Any]) -> float | None:
    """A document's length in words: Gopher's word count where that stage scored it (the extracted text,
    whitespace tokens that are not all punctuation), else its whitespace tokens; None without text."""
    gopher = (doc.get("scores") or {}).get("gopher_quality") or {}
    count = gopher.get("word_count")
    if count is not None and count == count:
        return count
    if "words" in doc:  # a light record: counted before its text was left behind
        return doc["words"]
    text = doc.get("text")
    return word_count(text) if text is not None else None


def rules_of(recipe: Any) -> tuple[Rule, ...]:
    """Every rule of every enabled stage of ``recipe``, in stage order."""
    from pipelines.registry import enabled_stages

    return tuple(rule for spec, cfg in enabled_stages(recipe) if spec.rules is not None for rule in spec.rules(cfg))


def summarize(docs: Iterable[Mapping[str, Any]], rules: tuple[Rule, ...] = ()) -> Summary:
    """One summary of ``docs`` (the Beam CombineFn does the same in parts)."""
    summary = Summary(rules=rules)
    for doc in docs:
        summary.add(doc)
    return summary

