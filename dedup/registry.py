"""The stages dedup/ declares: exact and near duplicates over the corpus (drop reasons ``dedup:exact``,
``dedup:near``). Both are corpus stages: Beam transforms in ``dedup/transforms.py``."""

from __future__ import annotations

from typing import Any

from dedup.config import ExactDedupConfig, NearDedupConfig
from schemas.stage import StageSpec


def _exact(cfg: ExactDedupConfig, job: Any):
    from dedup.transforms import ExactDedup

    return ExactDedup(cfg, job.annotate_only)


def _near(cfg: NearDedupConfig, job: Any):
    from dedup.transforms import NearDedup

    return NearDedup(cfg, job.annotate_only, job.near_index)


def _exact_card(cfg: ExactDedupConfig, recipe: Any) -> str:
    return "on, kept copy = first by " + ", ".join(cfg.order)


def _near_card(cfg: NearDedupConfig, recipe: Any) -> str:
    return (f"MinHash LSH, Jaccard ≥ {cfg.threshold:g}, {cfg.num_perm} permutations, word {cfg.ngram}-grams; "
            "kept copy = highest quality, then id")


EXACT_DEDUP = StageSpec(name="exact_dedup", section="dedup.exact", config=ExactDedupConfig, transform=_exact,
                        card_label="exact dedup", card=_exact_card)
NEAR_DEDUP = StageSpec(name="near_dedup", section="dedup.near", config=NearDedupConfig, transform=_near,
                       card_label="near dedup", card=_near_card)
