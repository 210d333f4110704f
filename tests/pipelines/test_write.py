"""Output paths: every file the pipeline writes stays inside the output folder."""

from __future__ import annotations

import pytest

from pipelines import write


@pytest.mark.parametrize("relative", ["../x.parquet", "data/../../x", "/etc/passwd", "data//x", "./x",
                                      "data\\..\\x", "c:/x", "gs://other/x", ""])
def test_join_refuses_paths_that_could_leave_the_output(tmp_path, relative):
    with pytest.raises(ValueError, match="must stay inside"):
        write.join(str(tmp_path), relative)


def test_join_and_the_shard_names(tmp_path):
    root = str(tmp_path)
    assert write.join(root, write.parquet_shard_path(3, 12)) == f"{root}/data/train-00003-of-00012.parquet"
    assert write.join(root, write.parquet_shard_path(0, 1, write.SYNTHETIC_DIR)).endswith(
        "synthetic/train-00000-of-00001.parquet")
    assert write.join("gs://bucket/out", "data/.tmp-*") == "gs://bucket/out/data/.tmp-*"


def test_a_run_writes_nothing_outside_its_folder(data_dir, tmp_path):
    from pipelines.run import main

    out = tmp_path / "nested" / "out"
    before = {p for p in tmp_path.rglob("*")}
    assert main(["--input", str(data_dir / "mini.warc.gz"), "--output", str(out), "-q",
                 "--set", "extract.engine=resiliparse"]) == 0
    created = {p for p in tmp_path.rglob("*")} - before
    assert created and all(p == out or out in p.parents or p == out.parent for p in created)
    assert all(p.resolve().is_relative_to(out.resolve()) for p in out.rglob("*"))
