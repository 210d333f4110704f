"""Document perplexity under a small KenLM n-gram model, CCNet style, and the selections built on it.

Why an n-gram model and not a transformer: CCNet (Wenzek et al., 2019) ranks web text by "how much it
reads like Wikipedia" with a 5-gram KenLM model, which needs no accelerator (~570 pages of 8.6 kB per
second on one core here, ``bench/perplexity_bench.py``), and RedPajama-V2 ships exactly that score
(``ccnet_perplexity``). What a
perplexity score is good *for* is disputed: CCNet keeps the low-perplexity head (and the middle),
while "Perplexed by Perplexity" (Ankner et al., 2024) finds the best band depends on the corpus (high on
the Pile, medium on Dolma). So this module scores and offers both selections; the recipe picks.

Pure Python over a loaded ``kenlm.Model``; no Beam. The same :func:`normalize` is used to build the
training text (``filters/train_kenlm.py``) and to score, because a model scores only what it has seen
in the same normal form (a digit it never saw is an <unk>).
"""

from __future__ import annotations

import math
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Literal

DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "kenlm_en_wiki.binary"

# CCNet's English bucket cutoffs (cc_net cutoff.csv, 30th / 60th percentile). They are perplexities of
# CCNet's own SentencePiece-tokenized model and do NOT transfer to another model: recompute them on your
# corpus with :func:`ccnet_cutoffs`. Kept for reference and for scoring CCNet's released models.
CCNET_EN_CUTOFFS = (340.0, 520.0)

Criterion = Literal["low", "medium", "high"]
Tokenizer = Callable[[str], str]
QuantileFn = Callable[[float], float]  # q in [0, 1] → the corpus' q-quantile of perplexity

# --------------------------------------------------------------------------------------- normalization

# cc_net/text_normalizer.py UNICODE_PUNCT (MIT, Facebook): unicode punctuation → ASCII. Its "１" → '"'
# entry is left out: it never fires in CCNet either, where digits have become 0 before punctuation runs.
_UNICODE_PUNCT = {
    "，": ",", "。": ".", "、": ",", "„": '"', "”": '"', "“": '"', "«": '"', "»": '"', "「": '"', "」": '"',
    "《": '"', "》": '"', "´": "'", "∶": ":", "：": ":", "？": "?", "！": "!", "（": "(", "）": ")",
    "；": ";", "–": "-", "—": " - ", "．": ". ", "～": "~", "’": "'", "…": "...", "━": "-", "〈": "<",
    "〉": ">", "【": "[", "】": "]", "％": "%", "►": "-",
}  # fmt: skip


@lru_cache(maxsize=1)
def _table() -> dict[int, str | None]:
    """One ``str.translate`` table for every per-character step of CCNet's ``normalize``.

    CCNet runs them one after another (strip accents → digits to 0 → unicode punctuation → drop
    non-printing characters); they touch disjoint sets of characters, so a single C-level pass gives the
    same result (checked on 24k real lines) ~3x faster than CCNet's per-character Python loops. Built
    once per process (~0.2 s).
    """
    table: dict[int, str | None] = {ord(k): v for k, v in _UNICODE_PUNCT.items()}
    # Combining marks and decimal digits live in planes 0, 1 and 14 only (a test checks it against every
    # code point): a sixth of the code points to look at, at every worker's start.
    for cp in (*range(0x20000), *range(0xE0000, 0xF0000)):
        category = unicodedata.category(chr(cp))
        if category == "Mn":  # combining marks, i.e. the accents NFD split off
            table[cp] = None
        elif category == "Nd":  # what CCNet's re ``\d`` matches: every decimal digit, any script
            table[cp] = "0"
    # CCNet deletes C0/C1 controls (0-31, 127-159). Those that are whitespace (tab, \v, \f, \x1c-\x1f,
    # \x85) become a space here instead, so "a\tb" stays two words (CCNet would glue them to "ab").
    for cp in [*range(0, 32), *range(127, 160)]:
        table[cp] = " " if chr(cp).isspace() else None
    return table


def normalize_line(line: str) -> str:
    """CCNet's ``text_normalizer.normalize`` (defaults: accent=True, case=True, numbers=True, punct=1).

    Lowercase; accents stripped (NFD, then combining marks dropped: "café" → "cafe", as CCNet does by
    default, which merges accented and unaccented spellings in a small model's vocabulary); every decimal
    digit → "0" (a model cannot learn all numbers); CJK/typographic punctuation → ASCII ("“…”" → '"..."');
    control characters removed. One addition: whitespace runs (including NBSP and U+2028, which KenLM
    would keep *inside* a word) collapse to one ASCII space, so Python's ``split()`` and KenLM agree on
    the word count the perplexity divides by.
    """
    line = line.lower()
    if not line.isascii():
        line = unicodedata.normalize("NFD", line)
    return " ".join(line.translate(_table()).split())


def normalize(text: str) -> str:
    """Normalize ``text`` line by line; the non-empty normalized lines, joined by "\\n".

    Empty lines are dropped (CCNet scores them, each adding log10 p(</s> | <s>) and one word); dropping
    them makes the score independent of how an extractor spaces paragraphs.
    """
    lines = (normalize_line(line) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


# --------------------------------------------------------------------------------------- scoring


def load_model(path: str | Path | None = None):
    """A ``kenlm.Model`` (binary or ARPA); load once per worker (DoFn.setup): it is not picklable.

    KenLM needs a local file (it mmaps it); a ``gs://``/``s3://`` path is first copied to the local
    cache through Beam's FileSystems (keyed by URL, size and modification time, so a replaced model is
    fetched again).
    """
    import kenlm

    path = str(path or DEFAULT_MODEL)
    if "://" in path:
        from filters.model_files import local_copy

        path = str(local_copy(path))
    if not Path(path).exists():
        raise FileNotFoundError(f"KenLM model not found: {path} (train one with python -m filters.train_kenlm)")
    return kenlm.Model(path)


def line_log10(model, line: str) -> tuple[float, int]:
    """log10 p(line + </s> | <s>) and its token count (words + 1 for </s>), of one non-empty normalized line.

    Normalized lines hold words separated by exactly one space, so counting spaces counts words (3x
    cheaper than ``split``, which KenLM already does once inside ``score``).
    """
    return model.score(line, bos=True, eos=True), line.count(" ") + 2


def doc_perplexity(model, text: str, tokenize: Tokenizer | None = None) -> float:
    """CCNet's document perplexity: 10^(−Σ log10 p / Σ (words + 1)) over the normalized lines.

    Sums over lines before dividing (a long line weighs more than a short one), as ``cc_net.DocLM``
    does. ``tokenize`` maps a normalized line to space-separated tokens (e.g. SentencePiece pieces, as
    CCNet scores); the model must have been trained on text tokenized the same way
    (``train_kenlm --sentencepiece``). Default: whitespace words, which is how the shipped model was
    trained. NaN when the text has no word to score (rules abstain on NaN, see ``decide.Rule``).
    """
    log10_sum, tokens = 0.0, 0
    for line in normalize(text).split("\n"):
        if tokenize is not None:
            line = tokenize(line)
        if not line:
            continue
        score, n = line_log10(model, line)
        log10_sum += score
        tokens += n
    if tokens == 0:
        return math.nan
    return 10.0 ** (-log10_sum / tokens)


def sentencepiece_tokenizer(model_path: str | Path) -> Tokenizer:
    """A ``tokenize`` for :func:`doc_perplexity` from a SentencePiece model (needs ``sentencepiece``)."""
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=str(model_path))
    return lambda line: " ".join(sp.encode(line, out_type=str))


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


def ccnet_cutoffs(quantile_of: QuantileFn, head: float = 0.30, tail: float = 0.60) -> tuple[float, float]:
    """CCNet's bucket cutoffs: the corpus' 30th and 60th percentiles (cc_net code defaults).

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
