"""Run in the trainers' venv (tests/clients/requirements.txt), never in the project's: reads a finished
run's token shards with the real clients and prints what they saw as JSON, for
tests/pipelines/test_token_shards.py to judge.

Expected ids come from the Parquet shards' text and the tokenizer's own library (tiktoken, or
``tokenizers`` for a tokenizer.json), not from webcurate. Checks:

(a) megatron-core's IndexedDataset gives each Parquet row's ids + EOS, in row order; GPTDataset builds
    packed samples from the shards;
(b) datatrove's DatatroveFolderDataset and OLMo-core's NumpyFSLDataset read the ``.ds`` windows those ids
    make;
(c) the files are byte-identical to what megatron-core's IndexedDatasetBuilder and datatrove's
    TokenizedFile write for the same ids, and (for a tokenizer.json) to what datatrove's DocumentTokenizer
    writes from the Parquet text with shuffling off.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

warnings.filterwarnings("ignore")


def encoder(spec: str):
    """Text → ids (no special tokens) with the tokenizer's own library."""
    if Path(spec).is_file():
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(spec)
        return lambda text: tokenizer.encode(text, add_special_tokens=False).ids
    import tiktoken

    encoding = tiktoken.get_encoding(f"{spec}_offline")
    return encoding.encode_ordinary


def expected_documents(parquet: str, encode, bos: list[int], eos: int) -> list[list[int]]:
    table = pq.read_table(parquet, columns=["text", "decision"])
    return [bos + encode(text) + [eos] for text, decision in zip(table.column("text").to_pylist(),
                                                                  table.column("decision").to_pylist())
            if decision == "keep"]


def check_megatron(output: str, shards: dict, vocab_size: int, eos: int, work: Path) -> dict:
    import torch
    from megatron.core.datasets.indexed_dataset import DType, IndexedDataset, IndexedDatasetBuilder

    report = {"shards": 0, "documents": 0, "mismatched": [], "identical_to_builder": True}
    work.mkdir(parents=True, exist_ok=True)
    prefixes = []
    for name, docs in shards.items():
        prefix = f"{output}/megatron/data/{name}"
        prefixes.append(prefix)
        dataset = IndexedDataset(prefix)
        report["shards"] += 1
        report["documents"] += len(dataset)
        report["dtype"] = str(dataset.index.dtype.__name__)
        if len(dataset) != len(docs):
            report["mismatched"].append(f"{name}: {len(dataset)} documents, Parquet has {len(docs)}")
        for i, ids in enumerate(docs[:len(dataset)]):
            if dataset[i].tolist() != ids:
                report["mismatched"].append(f"{name}[{i}]")
        builder = IndexedDatasetBuilder(str(work / f"{name}.bin"), dtype=DType.optimal_dtype(vocab_size))
        for ids in docs:
            builder.add_document(torch.tensor(ids), [len(ids)])
        builder.finalize(str(work / f"{name}.idx"))
        for ext in (".bin", ".idx"):
            if (work / f"{name}{ext}").read_bytes() != Path(prefix + ext).read_bytes():
                report["identical_to_builder"] = False
    report["gpt"] = gpt_samples(prefixes, eos)
    return report


def gpt_samples(prefixes: list[str], eos: int) -> dict:
    """Megatron's GPTDataset over the shards (CPU, a null tokenizer whose EOD is the shards' EOS)."""
    from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig
    from megatron.core.tokenizers.text.libraries.null_tokenizer import NullTokenizer

    config = GPTDatasetConfig(random_seed=1234, sequence_length=64, blend=(prefixes, None), split="1,0,0",
                              tokenizer=NullTokenizer(eos), reset_position_ids=False, reset_attention_mask=False,
                              eod_mask_loss=False, mid_level_dataset_surplus=0.005)
    train, _, _ = BlendedMegatronDatasetBuilder(GPTDataset, [40, None, None], lambda: True, config).build()
    samples = [train[i] for i in range(len(train))]
    return {"samples": len(samples), "shapes": sorted({tuple(s["tokens"].shape) for s in samples}),
            "shifted": all(s["tokens"][1:].tolist() == s["labels"][:-1].tolist() for s in samples),
            "eos_seen": sum(int((s["tokens"] == eos).sum()) for s in samples)}


def check_nanotron(output: str, spec: str, shards: dict, token_size: int, vocab_size: int, eos: int,
                   work: Path) -> dict:
    from datatrove.pipeline.tokens.tokenizer import TokenizedFile
    from datatrove.utils.dataset import DatatroveFolderDataset
    from olmo_core.data import NumpyFSLDataset

    seq_len = 64
    report = {"identical_to_tokenized_file": True, "datatrove_windows": 0, "datatrove_mismatched": 0,
              "olmo_instances": 0, "olmo_mismatched": 0}
    work.mkdir(parents=True, exist_ok=True)
    folder = f"{output}/nanotron/data"
    for name, docs in shards.items():
        written = TokenizedFile(str(work), f"{name}.ds", tokenizer_name_or_path=spec, save_final_metadata=True,
                                token_size=token_size)
        for ids in docs:
            written.write(ids, None)
        written.close()
        for ext in (".ds", ".ds.index", ".ds.metadata"):
            if (work / f"{name}{ext}").read_bytes() != Path(f"{folder}/{name}{ext}").read_bytes():
                report["identical_to_tokenized_file"] = False
    # datatrove: per file, windows of seq_len + 1 tokens; files in sorted order.
    dataset = DatatroveFolderDataset(folder, seq_len=seq_len, token_size=token_size)
    expected = []
    for name, docs in sorted(shards.items()):
        flat = [t for ids in docs for t in ids]
        expected += [flat[k * (seq_len + 1):(k + 1) * (seq_len + 1)] for k in range(len(flat) // (seq_len + 1))]
    report["datatrove_windows"] = len(dataset)
    report["datatrove_mismatched"] = sum(dataset[k]["input_ids"].tolist() != w for k, w in enumerate(expected))
    report["datatrove_expected_windows"] = len(expected)
    # OLMo-core: fixed-length instances of seq_len tokens, per file, in the order the paths are given.
    paths = sorted(glob.glob(f"{folder}/*.ds"))
    olmo = NumpyFSLDataset(*paths, sequence_length=seq_len, pad_token_id=eos, eos_token_id=eos,
                           vocab_size=vocab_size, dtype=np.uint16 if token_size == 2 else np.uint32)
    olmo.work_dir = work / "olmo"
    olmo.prepare()
    expected = []
    for name, docs in sorted(shards.items()):
        flat = [t for ids in docs for t in ids]
        expected += [flat[k * seq_len:(k + 1) * seq_len] for k in range(len(flat) // seq_len)]
    report["olmo_instances"] = len(olmo)
    report["olmo_expected_instances"] = len(expected)
    report["olmo_mismatched"] = sum(olmo[k]["input_ids"].tolist() != w for k, w in enumerate(expected))
    return report


def document_tokenizer(output: str, spec: str, eos_text: str, work: Path) -> bool:
    """datatrove's DocumentTokenizer on the Parquet text (shuffling off), one output file per Parquet
    shard: are its .ds, .ds.index and .ds.metadata our bytes?"""
    from datatrove.data import Document
    from datatrove.pipeline.tokens.tokenizer import DocumentTokenizer

    identical = True
    for parquet in sorted(glob.glob(f"{output}/data/*.parquet")):
        name = Path(parquet).stem
        table = pq.read_table(parquet, columns=["id", "text", "decision"]).to_pylist()
        docs = [Document(text=r["text"], id=r["id"]) for r in table if r["decision"] == "keep"]
        step = DocumentTokenizer(str(work / "datatrove" / name), tokenizer_name_or_path=spec, eos_token=eos_text,
                                 shuffle_documents=False, save_filename=name)
        step.run(iter(docs), rank=0)
        made = work / "datatrove" / name / f"{name}_00000_unshuffled.ds"
        for ext in ("", ".index", ".metadata"):
            if Path(f"{made}{ext}").read_bytes() != Path(f"{output}/nanotron/data/{name}.ds{ext}").read_bytes():
                identical = False
    return identical


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--output", required=True)
    parser.add_argument("--tokenizer", required=True, help="the recipe's tokenize.tokenizer")
    parser.add_argument("--eos", type=int, required=True)
    parser.add_argument("--eos-text", required=True)
    parser.add_argument("--bos", type=int, nargs="*", default=[])
    parser.add_argument("--vocab-size", type=int, required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    encode = encoder(args.tokenizer)
    shards = {Path(p).stem: expected_documents(p, encode, args.bos, args.eos)
              for p in sorted(glob.glob(f"{args.output}/data/*.parquet"))}
    token_size = 2 if args.vocab_size <= 1 << 16 else 4
    report = {"parquet_documents": sum(len(d) for d in shards.values()),
              "megatron": check_megatron(args.output, shards, args.vocab_size, args.eos, work / "megatron"),
              "nanotron": check_nanotron(args.output, args.tokenizer, shards, token_size, args.vocab_size,
                                         args.eos, work / "nanotron")}
    if Path(args.tokenizer).is_file():
        report["document_tokenizer_identical"] = document_tokenizer(args.output, args.tokenizer, args.eos_text, work)
    print(json.dumps(report, default=str))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
