"""The default pipeline on the runners users scale out to: Dataflow (translated, not submitted) and the
portable runner path that Flink and Spark use."""

from __future__ import annotations

import json

import pytest

from pipelines.run import main, prepare

pytest.importorskip("apitools", reason="DataflowRunner needs the gcp extra: pip install -e '.[gcp]'")

# Beam validates these: a bucket name needs 3+ characters and a project id 6+, or Beam tries to create a
# default bucket over the network (so the gs://b/... of quick examples fails offline).
DATAFLOW = [
    "--runner=DataflowRunner", "--dry_run=True", "--no_auth", "--sdk_location=container",
    "--project=test-project", "--region=us-central1",
    "--staging_location=gs://test-bucket/staging", "--temp_location=gs://test-bucket/temp",
]
STEPS = ["Read", "Read/SpreadRecords", "Extract", "Curate", "PerplexitySelect", "ExactDedup", "NearDedup",
         "Write/WriteShard", "Finalize"]


def test_default_pipeline_translates_to_a_dataflow_job(data_dir):
    pipeline, job = prepare(["--input", str(data_dir / "mini.warc.gz"), "--output", "gs://test-bucket/out", "-q",
                             *DATAFLOW])
    result = pipeline.run()
    proto = result.job.proto_pipeline
    names = {t.unique_name for t in proto.components.transforms.values()}
    for step in STEPS:
        assert step in names, step
    # Workers get this package: Beam built it from pyproject.toml and staged it with the job.
    staged = [json.dumps(str(dep)) for env in proto.components.environments.values() for dep in env.dependencies]
    assert any("workflow.tar.gz" in s for s in staged), staged
    assert job.output == "gs://test-bucket/out"


def test_cli_dry_run_exits_cleanly_without_network(data_dir, capsys):
    assert main(["--input", str(data_dir / "mini.warc.gz"), "--output", "gs://test-bucket/out", "-q", *DATAFLOW]) == 0
    assert "results will be in gs://test-bucket/out" in capsys.readouterr().err


def test_portable_runner_loopback_runs_the_whole_pipeline(data_dir, tmp_path):
    out = tmp_path / "out"
    code = main(["--input", str(data_dir / "mini.warc.gz"), "--output", str(out), "-q",
                 "--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"])
    assert code == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["read"] == 38 and stats["identity_problems"] == []
    assert stats["kept"] > 0 and (out / "data" / "train-00000-of-00001.parquet").exists()
