"""Turn scores into a decision: keep, or drop with the reason ``stage:rule``.

Scores are computed once and kept as columns; thresholds live here and in the recipe, so a user can
re-threshold an annotated dataset without recomputing anything (the RedPajama-V2 / dolma pattern).
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping

if TYPE_CHECKING:
    import numpy as np

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
_EXPR = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|==|!=|>|<)\s*([-+]?[0-9_]*\.?[0-9_]+(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Rule:
    """A document is kept by this rule when ``scores[score] <op> threshold`` holds."""

    stage: str
    name: str
    score: str
    op: str
    threshold: float

    @property
    def reason(self) -> str:
        return f"{self.stage}:{self.name}"

    def keeps(self, scores: Mapping[str, float]) -> bool:
        value = scores.get(self.score)
        # A missing or NaN score means the stage could not measure it: that is not evidence of low
        # quality, so the rule abstains rather than dropping.
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return True
        return _OPS[self.op](value, self.threshold)

    def fails(self, values: "np.ndarray") -> "np.ndarray":
        """``keeps`` on a whole column: True where a value is on the wrong side; NaN (unmeasured) abstains."""
        import numpy as np

        with np.errstate(invalid="ignore"):
            return ~np.isnan(values) & ~_OPS[self.op](values, self.threshold)

    def __str__(self) -> str:
        return f"{self.score} {self.op} {self.threshold:g}"


def parse_rule(stage: str, name: str, expression: str, known_scores: tuple[str, ...]) -> Rule:
    """Parse ``"word_count >= 50"``; errors name the stage, the rule and what is accepted."""
    match = _EXPR.match(str(expression))
    if not match:
        raise ValueError(
            f"{stage}.rules.{name}: cannot parse {expression!r}; "
            f"write '<score> <op> <number>' with op one of {', '.join(_OPS)}, e.g. 'word_count >= 50'"
        )
    score, op, number = match.groups()
    if score not in known_scores:
        raise ValueError(
            f"{stage}.rules.{name}: unknown score {score!r} for stage {stage!r}; "
            f"known scores: {', '.join(known_scores)}"
        )
    return Rule(stage=stage, name=name, score=score, op=op, threshold=float(number.replace("_", "")))


def decide(scores: Mapping[str, float], rules: tuple[Rule, ...] | list[Rule]) -> str | None:
    """Return None to keep, else the reason of the first rule (in recipe order) that drops."""
    for rule in rules:
        if not rule.keeps(scores):
            return rule.reason
    return None
