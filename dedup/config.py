"""The recipe section dedup/ owns: ``dedup.exact`` and ``dedup.near``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from schemas.config import StrictConfig


class ExactDedupConfig(StrictConfig):
    enabled: bool = True
    order: list[Literal["crawl_date", "url", "id"]] = ["crawl_date", "url", "id"]


class NearDedupConfig(StrictConfig):
    """MinHash LSH near duplicates (bands and rows from the threshold, datasketch's FP+FN optimum)."""

    enabled: bool = True
    threshold: float = Field(0.8, gt=0, lt=1)
    num_perm: int = Field(128, ge=16, le=1024)
    ngram: int = Field(5, ge=1, le=32)
    # The persisted index of --dedup_against: one Bloom filter per band, sized for every document the
    # index will hold over its life (this crawl and the later ones), at a document-level FP rate.
    p_effective: float = Field(1e-5, gt=0, lt=1)
    capacity: int | None = Field(None, gt=0, description="None: the existing index's, or 10M for a new one")
    index_shards: int | None = Field(None, gt=0, description="filters per band; None: the existing index's, or auto")

    @field_validator("index_shards")
    @classmethod
    def _power_of_two(cls, value: int | None) -> int | None:
        if value is not None and value & (value - 1):
            raise ValueError(f"must be a power of two, got {value}")
        return value

    def lsh_params(self):
        """The LSH parameters these settings mean (``dedup.params.LSHParams``)."""
        from dedup.params import LSHParams

        return LSHParams.for_threshold(self.threshold, self.num_perm, p_effective=self.p_effective, ngram=self.ngram)


class DedupConfig(StrictConfig):
    exact: ExactDedupConfig = ExactDedupConfig()
    near: NearDedupConfig = NearDedupConfig()
