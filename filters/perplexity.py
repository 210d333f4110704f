"""Document perplexity under a small KenLM n-gram model, exactly as CCNet computes it, and the selections
built on it.

Why an n-gram model and not a transformer: CCNet (Wenzek et al., 2019) ranks web text by "how much it
reads like Wikipedia" with a 5-gram KenLM model over SentencePiece pieces, which needs no accelerator,
and RedPajama-V2 ships exactly that score (``ccnet_perplexity``). What a perplexity score is good *for*
is disputed: CCNet keeps the low-perplexity head (and the middle), while "Perplexed by Perplexity"
(Ankner et al., 2024) finds the best band depends on the corpus (high on the Pile, medium on Dolma). So
this module scores and offers both selections; the recipe picks.

The score follows facebookresearch/cc_net (MIT) step by step, so that a CCNet model scores here as it
scores there, and a model trained by ``filters.train_kenlm`` ranks documents the way CCNet's does:

1. ``cc_net/mine.py`` ``_mine_shard``: ``MultiSentencePiece(field="raw_content", normalize=True)`` then
   ``DocLM(field="tokenized", normalize=False)``: the *whole* document is normalized and tokenized, then
   scored. :func:`doc_perplexity` does the same.
2. ``cc_net/text_normalizer.py`` ``normalize``: strip, lowercase, strip accents, digits → 0, unicode
   punctuation → ASCII, delete control characters. Newlines are control characters, so the document
   becomes one line (the last word of a line and the first of the next are glued: CCNet's published
   perplexities and cut-offs are of that text). :func:`normalize` does the same.
3. ``cc_net/perplexity.py`` ``MultiSentencePiece.do``: ``" ".join(sp.encode_as_pieces(text))``.
   :func:`pieces`.
4. ``cc_net/perplexity.py`` ``DocLM.do``: the tokenized text split on "\n" (one line here), each line
   ``model.score(line)`` (KenLM, with <s> and </s>), length ``len(line.split()) + 1``, summed, then
   ``pp(log_score, length) = 10 ** (-log_score / length)`` rounded to one decimal. :func:`doc_perplexity`.
5. ``cc_net/perplexity.py`` ``PerplexityBucket``: head below the 30th percentile, middle below the 60th,
   tail above, per language, from ``cutoff.csv``. :func:`ccnet_bucket`, :data:`CCNET_CUTOFFS`.

Pure Python over a loaded model pair; no Beam. ``filters/train_kenlm.py`` trains the pair with CCNet's
recipe (SentencePiece unigram on the normalized reference text, 5-gram on its pieces).
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Literal

#: The shipped English pair (cc_net's layout: ``<name>.arpa.bin`` beside ``<name>.sp.model``).
DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "wiki_en.arpa.bin"

Criterion = Literal["low", "medium", "high"]
QuantileFn = Callable[[float], float]  # q in [0, 1] → the corpus' q-quantile of perplexity

# --------------------------------------------------------------------------------------- normalization

# cc_net/text_normalizer.py UNICODE_PUNCT (MIT, Facebook), in its order: unicode punctuation → ASCII.
UNICODE_PUNCT = {
    "，": ",", "。": ".", "、": ",", "„": '"', "”": '"', "“": '"', "«": '"', "»": '"', "１": '"', "」": '"',
    "「": '"', "《": '"', "》": '"', "´": "'", "∶": ":", "：": ":", "？": "?", "！": "!", "（": "(", "）": ")",
    "；": ";", "–": "-", "—": " - ", "．": ". ", "～": "~", "’": "'", "…": "...", "━": "-", "〈": "<",
    "〉": ">", "【": "[", "】": "]", "％": "%", "►": "-",
}  # fmt: skip
_PUNCT_TABLE = str.maketrans(UNICODE_PUNCT)
#: cc_net/text_normalizer.py NON_PRINTING_CHARS_RE: C0 and C1 controls, "\n" and "\t" among them.
NON_PRINTING = (*range(0, 32), *range(127, 160))


def replace_unicode_punct(text: str) -> str:
    """cc_net's ``replace_unicode_punct``: each character of :data:`UNICODE_PUNCT` by its ASCII form."""
    return text.translate(_PUNCT_TABLE)


_REMOVE_PUNCT_TABLE = dict.fromkeys(map(ord, UNICODE_PUNCT))


def remove_unicode_punct(text: str) -> str:
    """cc_net's ``remove_unicode_punct`` (``normalize(punct=2)``): each character of :data:`UNICODE_PUNCT` deleted."""
    return text.translate(_REMOVE_PUNCT_TABLE)


@lru_cache(maxsize=8)
def _table(accent: bool = True, numbers: bool = True, punct: int = 1) -> dict[int, str | None]:
    """One ``str.translate`` table for every per-character step of cc_net's ``normalize``.

    cc_net runs them one after another (strip accents → ``\\d`` to 0 → unicode punctuation → delete
    non-printing characters); they touch disjoint sets of characters once each step's order is kept
    ("１" is a digit, so with ``numbers`` it is "0" by the time punctuation runs, and the table maps it to
    "0", not '"'), so one C-level pass gives the same result (a test checks it against the steps one by
    one on real pages) several times faster than cc_net's per-character Python. Built once per process
    and setting (~0.2 s).
    """
    table: dict[int, str | None] = {}
    if punct == 1:
        table.update({ord(k): v for k, v in UNICODE_PUNCT.items()})
    elif punct == 2:
        table.update(_REMOVE_PUNCT_TABLE)
    if accent or numbers:
        # Combining marks and decimal digits live in planes 0, 1 and 14 only (a test checks it against
        # every code point): a sixth of the code points to look at, at every worker's start.
        for cp in (*range(0x20000), *range(0xE0000, 0xF0000)):
            category = unicodedata.category(chr(cp))
            if accent and category == "Mn":  # combining marks: the accents NFD split off (strip_accents)
                table[cp] = None
            elif numbers and category == "Nd":  # what cc_net's DIGIT_RE ``\\d`` matches: any script's digits
                table[cp] = "0"
    for cp in NON_PRINTING:  # cc_net remove_non_printing_char
        table[cp] = None
    return table


def normalize(text: str, accent: bool = True, case: bool = True, numbers: bool = True, punct: int = 1) -> str:
    """cc_net's ``text_normalizer.normalize``, same arguments and defaults (the ones CCNet scores with).

    ``text.strip()``; lowercase (``case``); accents stripped (``accent``: NFD, combining marks dropped:
    "café" → "cafe"); every decimal digit → "0" (``numbers``); CJK/typographic punctuation → ASCII
    (``punct=1``: "“…”" → '"..."') or deleted (``punct=2``); control characters deleted, "\\n" and "\\t"
    included, so "a\\nb" → "ab" as in CCNet. Other whitespace (spaces, NBSP) is left to SentencePiece,
    whose NFKC normalization folds it.
    """
    text = text.strip()
    if not text:
        return text
    if case:
        text = text.lower()
    if accent and not text.isascii():
        text = unicodedata.normalize("NFD", text)
    return text.translate(_table(accent, numbers, punct))


# --------------------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class ReferenceModel:
    """A KenLM n-gram model over the pieces of a SentencePiece model: cc_net's ``<lang>.arpa.bin`` and
    ``<lang>.sp.model``. Load once per worker (DoFn.setup): neither is picklable. Both are read-only
    after loading, so threads may share one."""

    lm: Any  # kenlm.Model
    sp: Any  # sentencepiece.SentencePieceProcessor
    path: str
    sentencepiece: str


def sentencepiece_path(model_path: str) -> str:
    """The SentencePiece model beside a KenLM model, cc_net's naming: ``en.arpa.bin`` → ``en.sp.model``."""
    for suffix in (".arpa.bin", ".binary", ".bin", ".arpa"):
        if model_path.endswith(suffix):
            return model_path[: -len(suffix)] + ".sp.model"
    return model_path + ".sp.model"


def _local(path: str) -> str:
    """KenLM and SentencePiece need local files: a ``gs://``/``s3://`` path is first copied to the local
    cache through Beam's FileSystems (keyed by URL, size and modification time, so a replaced model is
    fetched again)."""
    if "://" in path:
        from filters.model_files import local_copy

        return str(local_copy(path))
    return path


def load_model(path: str | Path | None = None, sentencepiece: str | Path | None = None) -> ReferenceModel:
    """The KenLM model at ``path`` (binary or ARPA; None: the shipped English one) and the SentencePiece
    model its pieces come from (None: the ``.sp.model`` beside it, as cc_net lays them out)."""
    import kenlm
    import sentencepiece as spm

    path = str(path or DEFAULT_MODEL)
    sp_path = str(sentencepiece or sentencepiece_path(path))
    local, sp_local = _local(path), _local(sp_path)
    for wanted, what in ((local, "KenLM model"), (sp_local, "SentencePiece model")):
        if not Path(wanted).exists():
            raise FileNotFoundError(f"{what} not found: {wanted} (train the pair with python -m filters.train_kenlm)")
    return ReferenceModel(lm=kenlm.Model(local), sp=spm.SentencePieceProcessor(model_file=sp_local),
                          path=path, sentencepiece=sp_path)


def pieces(model: ReferenceModel, normalized: str) -> str:
    """cc_net ``MultiSentencePiece.do``: the normalized text's pieces, joined by single spaces."""
    return " ".join(model.sp.encode_as_pieces(normalized))


def log10_and_length(model: ReferenceModel, tokenized: str) -> tuple[float, int]:
    """cc_net ``DocLM.do`` for one line: ``model.score(line)`` (log10 p of the pieces after <s>, then
    </s>) and ``len(line.split()) + 1`` (the pieces and </s>)."""
    return model.lm.score(tokenized), len(tokenized.split()) + 1


def pp(log_score: float, length: int) -> float:
    """cc_net ``perplexity.pp``: 10 ** (−log10 probability / tokens)."""
    return 10.0 ** (-log_score / length)


def doc_perplexity(model: ReferenceModel, text: str) -> float:
    """CCNet's document perplexity: normalize the whole text, tokenize it into pieces, score the pieces as
    one sequence, ``round(pp(log10, pieces + 1), 1)``.

    NaN where cc_net leaves the document without a perplexity (nothing left after normalization; rules
    abstain on NaN, see ``decide.Rule``, and the bucket is "all", as cc_net's ``PerplexityBucket`` says).
    """
    tokenized = pieces(model, normalize(text))
    if not tokenized:
        return math.nan
    log_score, length = 0.0, 0
    for line in tokenized.split("\n"):  # cc_net DocLM.get_lines; normalize left no "\n", so one line
        score, n = log10_and_length(model, line)
        log_score += score
        length += n
    return round(pp(log_score, length), 1)


# --------------------------------------------------------------------------------------- selection


def sample_quantiles(perplexities: Iterable[float]) -> QuantileFn:
    """Exact quantiles of an in-memory sample (NaN dropped), linear interpolation as numpy's default.

    For a corpus scored in a pipeline use the order-independent histogram of ``filters.quantiles``
    instead: ``lambda q: quantiles.quantile(histogram, q)``.
    """
    values = sorted(p for p in perplexities if not math.isnan(p))
    if not values:
        raise ValueError("quantiles of an empty sample")

    def quantile_of(q: float) -> float:
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile {q} outside [0, 1]")
        position = q * (len(values) - 1)
        low = math.floor(position)
        high = min(low + 1, len(values) - 1)
        return values[low] + (values[high] - values[low]) * (position - low)

    return quantile_of


_CCNET_LANGUAGES = (
    "de it fr nl pl pt es no da id lt fi en hu ro ko ar bn fa ru uk ml my lv is ca ne et hy ja hr hi az el cs bg "
    "he zh ka km gu mk kn mr af mn kk be"
).split()
_CCNET_P30 = (
    370, 220, 180, 430, 160, 170, 180, 430, 380, 600, 190, 1110, 340, 80, 180, 920, 490, 190, 370, 210, 140, 2430,
    2530, 1130, 850, 210, 860, 1270, 750, 1110, 720, 480, 600, 450, 820, 450, 1280, 1460, 910, 1040, 1110, 530,
    2210, 1380, 540, 680, 610, 670,
)
_CCNET_P60 = (
    590, 360, 330, 650, 260, 270, 290, 680, 600, 970, 270, 1500, 520, 140, 270, 2130, 790, 300, 700, 310, 220, 3220,
    3040, 1480, 1190, 330, 1130, 1620, 1080, 1450, 910, 790, 950, 670, 1140, 680, 1710, 1950, 1310, 2180, 1570, 740,
    2800, 1870, 770, 1010, 930, 910,
)
#: CCNet's published per-language cut-offs: the 30th and 60th percentiles of its own models' perplexities
#: (cc_net ``data/cutoff.csv``, rows 30 and 60, the percentiles ``PerplexityBucket`` reads by default). They
#: are perplexities of CCNet's released models; a model trained here on other text has its own scale, so
#: they fit it only as far as it reproduces CCNet's (recipe: ``bucket_cutoffs: en``).
CCNET_CUTOFFS: dict[str, tuple[float, float]] = {
    lang: (float(p30), float(p60)) for lang, p30, p60 in zip(_CCNET_LANGUAGES, _CCNET_P30, _CCNET_P60, strict=True)
}
CCNET_PUBLISHED_PERCENTILES = (30.0, 60.0)


def ccnet_cutoffs(quantile_of: QuantileFn, head: float = 0.30, tail: float = 0.60) -> tuple[float, float]:
    """CCNet's bucket cutoffs computed on a corpus: its 30th and 60th percentiles (cc_net code defaults).

    The CCNet paper says "three even parts"; its code (``PerplexityBucket``) uses 30/60, which we follow.
    """
    return quantile_of(head), quantile_of(tail)


def ccnet_bucket(ppl: float, cutoffs: tuple[float, float]) -> str:
    """"head" (ppl < cutoffs[0]), "middle" (< cutoffs[1]) or "tail"; "all" when unscored (NaN).

    "all" is what cc_net's ``PerplexityBucket`` returns for a document without a perplexity.
    """
    if math.isnan(ppl):
        return "all"
    head, tail = cutoffs
    if ppl < head:
        return "head"
    if ppl < tail:
        return "middle"
    return "tail"


def band_quantiles(criterion: Criterion, rate: float) -> tuple[float, float]:
    """Quantile interval kept by "Perplexed by Perplexity" at selection rate ``rate``.

    low = [0, r], medium = [(1−r)/2, (1+r)/2], high = [1−r, 1]: each keeps a fraction r of the corpus.
    """
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"selection rate {rate} outside (0, 1]")
    if criterion == "low":
        return 0.0, rate
    if criterion == "medium":
        return (1.0 - rate) / 2.0, (1.0 + rate) / 2.0
    if criterion == "high":
        return 1.0 - rate, 1.0
    raise ValueError(f"unknown criterion {criterion!r}; use low, medium or high")


def band_bounds(quantile_of: QuantileFn, criterion: Criterion, rate: float) -> tuple[float, float]:
    """Perplexity bounds (lo, hi) of a band, from the corpus' quantile function.

    The quantiles 0 and 1 map to −inf and +inf, not to the sample's min and max: the edge bands stay
    open-ended, so documents beyond the extremes of the sample the quantiles came from still fall in them.
    """
    q_lo, q_hi = band_quantiles(criterion, rate)
    lo = -math.inf if q_lo == 0.0 else quantile_of(q_lo)
    hi = math.inf if q_hi == 1.0 else quantile_of(q_hi)
    return lo, hi


def perplexity_band(ppl: float, lo: float, hi: float) -> bool:
    """True when lo ≤ ppl ≤ hi; False for NaN (an unscored document is in no band)."""
    return lo <= ppl <= hi
