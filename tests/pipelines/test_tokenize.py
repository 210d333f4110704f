"""Token counts (pipelines/tokenize.py): each kind of tokenizer a recipe can name gives the counts its own
library gives, is identified by a hash of what defines it, and a name that is none of them is refused."""

from __future__ import annotations

import json

import pytest
import sentencepiece
import tiktoken
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models, pre_tokenizers, trainers

from pipelines.tokenize import load_tokenizer


@pytest.fixture(scope="module")
def texts(mini_jsonl_rows) -> list[str]:
    return [row["text"] for row in mini_jsonl_rows if row.get("text")]


def test_the_default_is_cl100k_base_offline_and_counts_as_tiktoken_does(texts):
    tokenizer = load_tokenizer("cl100k_base")
    reference = tiktoken.get_encoding("cl100k_base_offline")
    assert tokenizer.count(texts) == [len(reference.encode_ordinary(t)) for t in texts]
    assert tokenizer.count(["hello world"]) == [2]
    # special-token text inside a page is ordinary text, never a control token
    assert tokenizer.encode(["a <|endoftext|> b"])[0] == reference.encode_ordinary("a <|endoftext|> b")
    assert reference.eot_token not in tokenizer.encode(["a <|endoftext|> b"])[0]
    assert tokenizer.describe() == {"name": "cl100k_base", "kind": "tiktoken", "sha256": load_tokenizer(
        "cl100k_base").sha256, "vocab_size": 100277, "bos": [], "eos": {"id": 100257, "text": "<|endoftext|>"}}


def test_a_tokenizer_json_and_its_folder_count_as_the_tokenizers_library_does(texts, tmp_path):
    trained = HFTokenizer(models.BPE(unk_token="[UNK]"))
    trained.pre_tokenizer = pre_tokenizers.ByteLevel()
    trained.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=500, special_tokens=["[UNK]", "<s>"]))
    folder = tmp_path / "my-model"
    folder.mkdir()
    trained.save(str(folder / "tokenizer.json"))
    expected = [len(trained.encode(t, add_special_tokens=False).ids) for t in texts]
    by_file, by_folder = load_tokenizer(str(folder / "tokenizer.json")), load_tokenizer(str(folder))
    assert by_file.count(texts) == by_folder.count(texts) == expected
    assert by_file.kind == "tokenizers" and by_folder.name == "my-model" and by_file.sha256 == by_folder.sha256
    assert by_file.sha256 != load_tokenizer("cl100k_base").sha256


def test_a_sentencepiece_model_counts_as_sentencepiece_does(texts, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(line for t in texts for line in t.splitlines() if line.strip()), encoding="utf-8")
    sentencepiece.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(tmp_path / "sp"), vocab_size=300,
                                             model_type="unigram", minloglevel=2)
    reference = sentencepiece.SentencePieceProcessor(model_file=str(tmp_path / "sp.model"))
    tokenizer = load_tokenizer(str(tmp_path / "sp.model"))
    assert tokenizer.kind == "sentencepiece"
    assert tokenizer.count(texts) == [len(reference.encode(t)) for t in texts]


def test_a_name_that_is_nothing_known_is_refused_saying_what_works(tmp_path):
    with pytest.raises(ValueError, match=r"'gpt-17' is not a file, a folder or a tiktoken encoding .*cl100k_base"):
        load_tokenizer("gpt-17")
    with pytest.raises(ValueError, match="without tokenizer.json"):
        load_tokenizer(str(tmp_path))
    (tmp_path / "broken.json").write_text(json.dumps({"not": "a tokenizer"}), encoding="utf-8")
    with pytest.raises(Exception):
        load_tokenizer(str(tmp_path / "broken.json"))
