"""The base of every recipe section: strict (a misspelt key is an error that names it) and frozen (a
section is a value: hashable into the recipe hash, safe to share between threads and pickle to workers)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
