"""pipelines.redecide: another recipe applied to an annotate-only run's stored scores gives the dataset a
fresh run of that recipe writes, byte for byte; what stored scores cannot decide is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.redecide import main as redecide
from pipelines.run import main as run

SHARD = "data/train-00000-of-00001.parquet"


@pytest.fixture(scope="module")
def annotated(data_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("annotated")
    assert run(["--input", str(data_dir / "mini.warc.gz"), "--output", str(out), "--annotate_only", "-q"]) == 0
    return out


def _sets(changes: list[str]) -> list[str]:
    return [arg for change in changes for arg in ("--set", change)]


@pytest.mark.parametrize("changes", [
    ['quality.rules={"low": "score >= 0.3"}', "language.min_score=0.8"],  # stricter: fewer survivors
    ["language.keep=[en, de]", "heuristics.c4.rules={}"],  # looser: pages dropped before now reach dedup
    ["perplexity.select=low", "perplexity.select_rate=0.6", "dedup.exact.enabled=false"],  # corpus steps
    ["heuristics.fineweb.enabled=false", "quality.enabled=false"],  # stages off: their scores null, near order
])
def test_kept_rows_are_those_of_a_fresh_run_byte_for_byte(annotated, data_dir, tmp_path, changes):
    fresh, again = tmp_path / "fresh", tmp_path / "again"
    assert run(["--input", str(data_dir / "mini.warc.gz"), "--output", str(fresh), "-q", *_sets(changes)]) == 0
    assert redecide([str(annotated), "--output", str(again), *_sets(changes)]) == 0
    kept = pq.read_table(again / SHARD).column("id").to_pylist()
    assert kept == pq.read_table(fresh / SHARD).column("id").to_pylist()
    assert (again / SHARD).read_bytes() == (fresh / SHARD).read_bytes()
    ours, theirs = json.loads((again / "stats.json").read_text()), json.loads((fresh / "stats.json").read_text())
    assert ours.pop("redecided_from")["recipe_hash"] == json.loads((annotated / "stats.json").read_text())["recipe_hash"]
    assert ours == theirs
    assert (again / "README.md").read_text() == (fresh / "README.md").read_text()
    assert (again / "report.html").is_file() and (again / "report" / "funnel.png").is_file()


def test_an_annotated_redecision_can_be_redecided_again(annotated, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    assert redecide([str(annotated), "--output", str(first), "--annotate_only", "--set", "language.min_score=0.9"]) == 0
    assert redecide([str(first), "--output", str(second), "--set", "language.min_score=0.65"]) == 0
    direct = tmp_path / "direct"
    assert redecide([str(annotated), "--output", str(direct)]) == 0
    assert (second / SHARD).read_bytes() == (direct / SHARD).read_bytes()


@pytest.mark.parametrize("change, says", [
    ("quality.model=/elsewhere/quality.ftz", "quality.model changed"),
    ("heuristics.c4.enabled=false", "changes the text every later stage"),
    ("dedup.near.threshold=0.7", "band keys are of other parameters"),
    ("extract.engine=resiliparse", "extract.engine changed"),
    ("output.formats=[parquet, megatron]", "token shards"),
    ("tokenize.tokenizer=o200k_base", "tokenize.tokenizer changed"),
])
def test_what_stored_scores_cannot_decide_is_refused_with_the_reason(annotated, tmp_path, capsys, change, says):
    assert redecide([str(annotated), "--output", str(tmp_path / "new"), "--set", change]) == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "new").exists()  # refused before writing anything


def test_a_filtered_output_is_refused(data_dir, tmp_path, capsys):
    filtered = tmp_path / "filtered"
    assert run(["--input", str(data_dir / "mini.warc.gz"), "--output", str(filtered), "-q"]) == 0
    assert redecide([str(filtered), "--output", str(tmp_path / "new")]) == 2
    assert "not annotate-only" in capsys.readouterr().err
