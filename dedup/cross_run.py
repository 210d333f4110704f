"""Near-dedup against earlier runs: a persisted LSHBloom index that each run queries and extends.

``--dedup_against PATH`` names an index directory (local or gs://, s3://). A run reads the current
generation of the index, drops documents whose band keys hit it (``dedup:near``, with no
``duplicate_of``: Bloom filters keep bits, not ids), and writes a *new* generation holding the old keys
plus the band keys of every document it kept. Nothing is updated in place:

    PATH/index.json               header (parameters, capacity, shards, count), the current generation's
                                  files, its parent, and the runs that made it. Written last: the commit.
    PATH/g00002/band-003-shard-0000.bloom   one filter per (band, shard) and generation

A run that dies before the commit leaves the index as it was (the next run overwrites its partial
generation). The parent generation is kept, so running the *same* job again (same inputs, recipe and
output: the run id) after a commit re-deduplicates against the parent and rewrites the same generation
byte for byte, instead of finding every document in the index. Generations older than the parent are
deleted at commit.

The plan is made once on the launching machine (it reads only index.json); workers read and write one
(band, shard) filter each.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from dataclasses import dataclass, field

import xxhash
from apache_beam.io.filesystems import FileSystems

from dedup.lshbloom import (
    INDEX_FILE,
    BloomFilter,
    IndexSpec,
    LSHBloomIndex,
)
from dedup.params import LSHParams
from schemas.files import join, write_text

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 10_000_000
_GENERATION = re.compile(r"^g(\d{5})$")


def run_id(inputs: list[str], recipe_hash: str, output: str) -> str:
    """What makes two runs "the same job": a rerun of it must not find its own documents in the index."""
    key = json.dumps({"inputs": sorted(inputs), "recipe": recipe_hash, "output": output}, sort_keys=True)
    return xxhash.xxh3_64_hexdigest(key.encode())


def generation_dir(generation: int) -> str:
    return f"g{generation:05d}"


@dataclass(frozen=True)
class IndexPlan:
    """Which generation this run reads (``base``) and which it writes; picklable, sent to workers."""

    path: str
    spec: IndexSpec
    run_id: str
    generation: int
    base_generation: int | None = None
    base_files: dict[tuple[int, int], str] = field(default_factory=dict)
    base_count: int = 0
    runs: tuple[dict, ...] = ()
    rerun: bool = False

    def base_file(self, band: int, shard: int) -> str | None:
        name = self.base_files.get((band, shard))
        return join(self.path, name) if name else None

    def new_file(self, band: int, shard: int) -> str:
        return f"{generation_dir(self.generation)}/{LSHBloomIndex.filter_name(band, shard)}"

    def cells(self) -> list[tuple[int, int]]:
        return [(band, shard) for band in range(self.spec.params.bands) for shard in range(self.spec.shards)]

    def summary(self) -> str:
        """Printed before the run: parameters and the memory formula for the index's whole life."""
        base = f"generation {self.base_generation}, {self.base_count:,} documents" if self.base_generation else "new index"
        return (
            f"{self.spec.params.summary(self.spec.capacity)}\n"
            f"index {self.path}: {base}; this run writes generation {self.generation} "
            f"({self.spec.shards} shard(s) per band, {self.spec.nbytes / 2**20:,.1f} MiB of filters)"
            + (" [rerun of the run that wrote the current generation: deduplicating against its parent]" if self.rerun else "")
        )


def _files_of(entries: list[dict]) -> dict[tuple[int, int], str]:
    return {(e["band"], e["shard"]): e["file"] for e in entries}


def plan(
    path: str,
    params: LSHParams,
    run: str,
    capacity: int | None = None,
    shards: int | None = None,
    backend: str | None = None,
) -> IndexPlan:
    """Read ``PATH/index.json`` (if any) and decide what this run reads and writes.

    ``capacity`` and ``shards`` None mean: the existing index's, or for a new index DEFAULT_CAPACITY and
    as many shards as keep each filter under 64 MiB. Raises IndexMismatchError when the index was built
    with other parameters, capacity or shards than asked for.
    """
    path = path.rstrip("/") or "/"
    kwargs = {"backend": backend} if backend else {}
    if not LSHBloomIndex.exists(path):
        spec = (IndexSpec(params, capacity or DEFAULT_CAPACITY, shards, **kwargs) if shards
                else IndexSpec.auto(params, capacity or DEFAULT_CAPACITY, **kwargs))
        return IndexPlan(path, spec, run, generation=1)
    header = LSHBloomIndex.read_header(path)
    spec = IndexSpec.for_header(header, params, f"the index at {path}", capacity, shards, **kwargs)
    runs = tuple(header.get("runs", ()))
    if runs and runs[-1]["run_id"] == run:
        parent = header.get("parent")
        if parent is None:  # the index was created by this very run: start again from nothing
            return IndexPlan(path, spec, run, generation=header["generation"], runs=runs[:-1], rerun=True)
        return IndexPlan(path, spec, run, generation=header["generation"], base_generation=parent["generation"],
                         base_files=_files_of(parent["files"]), base_count=parent["count"], runs=runs[:-1], rerun=True)
    return IndexPlan(path, spec, run, generation=header.get("generation", 0) + 1,
                     base_generation=header.get("generation", 0), base_files=_files_of(header["files"]),
                     base_count=header["count"], runs=runs)


def load_base(index: IndexPlan, band: int, shard: int) -> BloomFilter | None:
    """The filter this run queries at (band, shard), checked to belong there; None for a new index."""
    where = index.base_file(band, shard)
    if where is None:
        return None
    bloom = BloomFilter.load(where)
    index.spec.check_filter(bloom, band, shard, where)
    return bloom


def write_cell(index: IndexPlan, band: int, shard: int, keys) -> dict:
    """The new generation's filter at (band, shard): the base filter plus ``keys``; returns its entry."""
    bloom = load_base(index, band, shard) or index.spec.new_filter(band, shard)
    before = bloom.count
    for chunk in keys:
        bloom.add(chunk)
    name = index.new_file(band, shard)
    head = bloom.save(join(index.path, name))
    return {"band": band, "shard": shard, "file": name, "count": bloom.count,
            "added": bloom.count - before, "xxh3_64": head["xxh3_64"]}


def commit(index: IndexPlan, entries: list[dict]) -> dict:
    """Write index.json for the new generation (after every filter exists), prune, return a summary."""
    entries = sorted(entries, key=lambda e: (e["band"], e["shard"]))
    missing = sorted(set(index.cells()) - {(e["band"], e["shard"]) for e in entries})
    if missing:
        raise RuntimeError(f"index {index.path}: filters missing for (band, shard) {missing[:5]}; not committing")
    added = sum(e["added"] for e in entries if e["band"] == 0)
    count = index.base_count + added
    parent = None
    if index.base_generation is not None:
        parent = {"generation": index.base_generation, "count": index.base_count,
                  "files": [{"band": b, "shard": s, "file": f} for (b, s), f in sorted(index.base_files.items())]}
    runs = [*index.runs, {"run_id": index.run_id, "generation": index.generation, "added": added}]
    header = {**index.spec.header(count), "generation": index.generation, "files": [
        {k: e[k] for k in ("band", "shard", "file", "count", "xxh3_64")} for e in entries
    ], "parent": parent, "runs": runs}
    write_text(join(index.path, INDEX_FILE), json.dumps(header, indent=1, sort_keys=True))
    removed = prune(index)
    real_bits = index.spec.params.bands * index.spec.shards * index.spec.bits
    summary = {
        "path": index.path,
        "generation": index.generation,
        "parent_generation": index.base_generation,
        "rerun": index.rerun,
        "documents_before": index.base_count,
        "documents_added": added,
        "documents": count,
        "capacity": index.spec.capacity,
        "over_capacity": count > index.spec.capacity,
        "filter_bytes": real_bits // 8,
        "formula_bytes": round(index.spec.formula_bits() / 8),
        "pruned_files": removed,
    }
    if summary["over_capacity"]:
        log.warning("LSHBloom index %s holds %s documents, over its capacity %s: its false-positive rate is now "
                    "above %g; build a new index with a larger dedup.near.capacity", index.path, f"{count:,}",
                    f"{index.spec.capacity:,}", index.spec.params.p_effective)
    return summary


def prune(index: IndexPlan) -> int:
    """Delete filter files of generations other than the new one and its parent (kept for reruns)."""
    keep = {generation_dir(index.generation)}
    if index.base_generation:
        keep.add(generation_dir(index.base_generation))
    found = FileSystems.match([join(index.path, "g?????/*")])[0].metadata_list
    stale = [m.path for m in found if _generation_of(m.path) not in keep]
    if stale:
        FileSystems.delete(stale)
    for directory in sorted({os.path.dirname(p) for p in stale if "://" not in p}):
        with contextlib.suppress(OSError):
            os.rmdir(directory)  # local disks keep empty directories; object stores have none
    return len(stale)


def _generation_of(path: str) -> str:
    parts = path.replace("\\", "/").rstrip("/").split("/")
    return parts[-2] if len(parts) >= 2 and _GENERATION.match(parts[-2]) else ""
