"""Output paths: shards are named and placed deterministically, and every file stays inside the output folder."""

from __future__ import annotations


from pipelines import write
from schemas.files import join


def test_join_and_the_shard_names(tmp_path):
    root = str(tmp_path)
    assert join(root, write.parquet_shard_path(3, 12)) == f"{root}/data/train-00003-of-00012.parquet"
    assert join(root, write.parquet_shard_path(0, 1, write.SYNTHETIC_DIR)).endswith(
        "synthetic/train-00000-of-00001.parquet")
    assert join("gs://bucket/out", "data/.tmp-*") == "gs://bucket/out/data/.tmp-*"


def test_a_run_writes_nothing_outside_its_folder(data_dir, tmp_path):
    from pipelines.run import main

    out = tmp_path / "nested" / "out"
    before = {p for p in tmp_path.rglob("*")}
    assert main(["--input", str(data_dir / "mini.warc.gz"), "--output", str(out), "-q",
                 "--set", "extract.engine=resiliparse"]) == 0
    created = {p for p in tmp_path.rglob("*")} - before
    assert created and all(p == out or out in p.parents or p == out.parent for p in created)
    assert all(p.resolve().is_relative_to(out.resolve()) for p in out.rglob("*"))


def _rows(n: int) -> list[dict]:
    import xxhash

    from schemas import empty_document

    rows = []
    for i in range(n):
        row = empty_document()
        row.update(id=xxhash.xxh3_128_hexdigest(str(i).encode()), source="s", url=f"https://a.example/{i}",
                   text=f"Document number {i}. " * 40, decision="keep", recipe_hash="h")
        rows.append(row)
    return rows


def test_write_shards_spreads_rows_by_id_and_reports_every_file(tmp_path):
    import apache_beam as beam
    import pyarrow.parquet as pq
    from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from pipelines.pipeline import WriteShards
    from pipelines.tokenize import TokenizeConfig
    from pipelines.write import OutputConfig

    rows = _rows(60)
    config = OutputConfig(target_shard_bytes=10_000, formats=["parquet", "arrow"])
    shards = write.num_shards(sum(write.doc_bytes(r) for r in rows), config.target_shard_bytes)
    assert shards > 2
    with BeamTestPipeline(runner="DirectRunner") as p:
        infos = p | beam.Create(rows, reshuffle=True) | WriteShards(str(tmp_path), config, TokenizeConfig())
        assert_that(infos | "Files" >> beam.Map(lambda i: i["file"]),
                    equal_to([write.parquet_shard_path(i, shards) for i in range(shards)]
                             + [write.arrow_shard_path(i, shards) for i in range(shards)]), label="files")
        assert_that(infos | "Rows" >> beam.Map(lambda i: i["rows"]) | beam.CombineGlobally(sum),
                    equal_to([2 * len(rows)]), label="rows")
    for i in range(shards):
        table = pq.read_table(tmp_path / write.parquet_shard_path(i, shards))
        ids = table.column("id").to_pylist()
        assert ids == sorted(ids) and all(write.shard_of(d, shards) == i for d in ids)
        assert table.schema.metadata[write.FINGERPRINT_KEY]
    written = {d for i in range(shards) for d in pq.read_table(tmp_path / write.parquet_shard_path(i, shards))
               .column("id").to_pylist()}
    assert written == {r["id"] for r in rows}
