"""Near-dedup against earlier runs (--dedup_against): a persisted LSHBloom index, queried and extended."""

from __future__ import annotations

import json

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline

from dedup import cross_run
from dedup.lshbloom import IndexMismatchError, LSHBloomIndex
from dedup.minhash import signatures
from dedup.transforms import NearDedup
from schemas.outcomes import DOCS, DROPPED
from dedup.config import NearDedupConfig
from pipelines.run import main
from tests.dedup.test_transforms import _doc, _edit

CFG = NearDedupConfig()
PARAMS = CFG.lsh_params()
_OUT: dict[str, list] = {}


def _collect(item, name: str) -> None:
    _OUT[name].append(item)


def _run(docs: list[dict], index: cross_run.IndexPlan) -> tuple[list[dict], list[dict], dict]:
    _OUT.update(kept=[], dropped=[], index=[])
    with BeamTestPipeline(runner="DirectRunner") as p:
        out = p | beam.Create(docs, reshuffle=True) | NearDedup(CFG, annotate_only=False, index=index)
        out[DOCS] | "k" >> beam.Map(_collect, "kept")
        out[DROPPED] | "d" >> beam.Map(_collect, "dropped")
        out["index"] | "i" >> beam.Map(_collect, "index")
    (summary,) = _OUT["index"]
    return _OUT["kept"], _OUT["dropped"], summary


def _plan(path, run: str, **kw) -> cross_run.IndexPlan:
    return cross_run.plan(str(path), PARAMS, run, capacity=kw.pop("capacity", 1000), shards=kw.pop("shards", 2), **kw)


def _files(path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*.bloom"))}


def _keys(text: str) -> np.ndarray:
    return LSHBloomIndex(PARAMS, 10).keys(signatures([text], PARAMS.num_perm, PARAMS.ngram, PARAMS.seed))


def test_a_later_crawl_is_deduplicated_against_the_index_and_extends_it(texts, tmp_path):
    idx = tmp_path / "idx"
    first = [_doc("a0", texts[0]), _doc("a1", texts[1])]
    kept, dropped, summary = _run(first, _plan(idx, "run-a"))
    assert {d["id"] for d in kept} == {"a0", "a1"} and dropped == []
    assert summary["generation"] == 1 and summary["documents"] == 2 and summary["parent_generation"] is None

    second = [_doc("b0", _edit(texts[0], 0.005, 1)), _doc("b2", texts[2]), _doc("b3", _edit(texts[2], 0.005, 2))]
    kept, dropped, summary = _run(second, _plan(idx, "run-b"))
    assert [d["id"] for d in kept] == ["b2"]
    by_id = {d["id"]: d for d in dropped}
    assert by_id["b0"]["decision"] == "dedup:near" and by_id["b0"]["duplicate_of"] is None  # an earlier run's copy
    assert by_id["b3"]["duplicate_of"] == "b2"  # a copy within this run is named
    assert (summary["generation"], summary["documents_before"], summary["documents_added"]) == (2, 2, 1)
    assert summary["filter_bytes"] == pytest.approx(summary["formula_bytes"], rel=1e-3)

    # The committed index is an ordinary LSHBloom index: the Python API loads and queries it.
    index = LSHBloomIndex.load(idx, PARAMS, capacity=1000)
    assert index.count == 3
    assert index.query(_keys(texts[2])[0]) and index.query(_keys(texts[1])[0])
    assert not index.query(_keys(texts[3])[0])


def test_rerunning_the_last_run_is_idempotent(texts, tmp_path):
    idx = tmp_path / "idx"
    _run([_doc("a0", texts[0])], _plan(idx, "run-a"))
    batch = [_doc("b0", _edit(texts[0], 0.005, 1)), _doc("b1", texts[1])]
    first = _run(batch, _plan(idx, "run-b"))
    files, header = _files(idx), json.loads((idx / "index.json").read_text())
    again = _plan(idx, "run-b")
    assert again.rerun and again.generation == 2 and again.base_generation == 1
    second = _run(batch, again)
    assert sorted(d["id"] for d in second[0]) == sorted(d["id"] for d in first[0]) == ["b1"]
    assert _files(idx) == files and json.loads((idx / "index.json").read_text()) == header


def test_generations_older_than_the_parent_are_pruned(texts, tmp_path):
    idx = tmp_path / "idx"
    for i in range(3):
        _run([_doc(f"d{i}", texts[i])], _plan(idx, f"run-{i}"))
    assert sorted({p.parent.name for p in idx.rglob("*.bloom")}) == ["g00002", "g00003"]
    assert LSHBloomIndex.load(idx, PARAMS).count == 3


def test_an_index_built_with_other_parameters_is_refused(texts, tmp_path):
    idx = tmp_path / "idx"
    _run([_doc("a0", texts[0])], _plan(idx, "run-a"))
    other = NearDedupConfig(threshold=0.7).lsh_params()
    with pytest.raises(IndexMismatchError, match="params.bands"):
        cross_run.plan(str(idx), other, "run-b")
    with pytest.raises(IndexMismatchError, match="capacity: index has 1000, expected 5000"):
        _plan(idx, "run-b", capacity=5000)
    assert cross_run.plan(str(idx), PARAMS, "run-b").spec.capacity == 1000  # unset: the index's own


def test_an_index_saved_by_the_python_api_is_extended(texts, tmp_path):
    idx = tmp_path / "idx"
    index = LSHBloomIndex(PARAMS, 1000, idx, shards=2)
    index.add_many(_keys(texts[0]))
    index.save()
    kept, dropped, summary = _run([_doc("x", texts[0]), _doc("y", texts[1])], _plan(idx, "run-a"))
    assert [d["id"] for d in kept] == ["y"] and [d["id"] for d in dropped] == ["x"]
    assert summary["documents"] == 2


def test_cli_second_crawl_against_the_first(data_dir, tmp_path, capsys):
    idx = tmp_path / "idx"
    args = ["--input", str(data_dir / "mini.warc.gz"), "-q", "--dedup_against", str(idx),
            "--set", "dedup.near.capacity=10000"]
    assert main([*args, "--output", str(tmp_path / "one")]) == 0
    one = json.loads((tmp_path / "one" / "stats.json").read_text())
    assert "LSHBloom: threshold=0.8" in capsys.readouterr().err  # the memory formula, printed before the run
    assert one["near_dedup_index"]["documents_added"] == one["kept"] > 0
    # The same pages again, as another crawl: every page kept the first time is now a near-duplicate.
    assert main([*args, "--output", str(tmp_path / "two")]) == 0
    two = json.loads((tmp_path / "two" / "stats.json").read_text())
    assert two["kept"] == 0 and two["dropped"]["dedup:near"] == one["kept"]
    assert two["near_dedup_index"]["generation"] == 2
    # Other LSH parameters against this index: refused before anything runs, naming what differs.
    code = main([*args, "--output", str(tmp_path / "three"), "--set", "dedup.near.threshold=0.5"])
    assert code == 2 and "params.threshold: index has 0.8, expected 0.5" in capsys.readouterr().err
