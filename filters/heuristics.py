"""Rule-based quality signals for web text: Gopher, C4, FineWeb and RefinedWeb.

Every function here is pure (text in, scores out) and decides nothing: the thresholds live in the
recipe (``pipelines/recipes/*.yaml``) and are applied by ``filters.decide``. Keeping scores and
decisions apart means an annotate-only run records the *value* behind every rule, so a threshold can
be changed after the fact without re-running the crawl.

Conventions shared by all functions

* Every score is a Python ``float``. Ratios are clamped to ``[0, 1]``; where the paper's ratio can
  exceed 1 (``#`` per word, newlines per word, an n-gram overlapping itself) the clamp cannot change
  a decision, because every published threshold is far below 1. A ratio with a zero denominator is
  0.0, except that a non-zero numerator over zero words (e.g. ``"###"``) is 1.0 (the limit).
* *Words* (Gopher, FineWeb): whitespace-separated tokens with leading/trailing punctuation and
  symbols (Unicode categories P* and S*) stripped; a token made only of punctuation is not a word.
  datatrove uses NLTK ``word_tokenize`` instead, which needs the punkt model (no downloads here) and
  counts punctuation as tokens; whitespace tokens are what Gopher's own description ("words") and
  RedPajama-V2 use.
* *Lines*: ``str.splitlines()``; a line is *non-empty* if it has a non-whitespace character. The one
  exception is ``gopher_repetition``, which splits lines on ``\\n+`` and paragraphs on ``\\n{2,}``.
* Functions that edit text (``c4_lines``, ``refinedweb_lines``) keep line order, join kept lines with
  ``"\\n"`` and change nothing in a kept line but what their rule removes (C4 also strips every
  line, as C4 does; RefinedWeb strips only the lines it edits). Nothing is lowercased. They are
  idempotent: applying one twice gives the same text as applying it once.

Speed: these run on every document, so the per-character and per-word work is done by C-level
builtins (``str.split``/``strip``/``translate``, ``map``, ``zip``, ``itertools.compress``, ``Counter``)
and precompiled regexes, never a Python loop over characters; everything is linear in the text.
Measured on a 2-core AMD EPYC VM (CPython 3.11; ``sum(range(1000))`` takes 19 us there, so a recent
laptop is faster): all functions together, in the order ``filters.stages`` calls them, take 1.0-1.3 ms
on a ~5 kB extracted page (nytimes-1 5.1 kB: 1.1 ms; bbc-1 5.0 kB: 1.0 ms) and scale linearly (wikipedia,
29 kB: 6.5 ms). Over 400 real pages the p90 is 2.1 ms per 5 kB; highly repetitive pages are the slowest
(their n-gram candidates do not thin out). A 400-entry bad-words list adds ~0.13 ms per 5 kB.
"""

from __future__ import annotations

import re
import string
import unicodedata
from bisect import bisect_right
from collections import Counter
from functools import lru_cache
from itertools import accumulate, compress, count, repeat
from operator import add, ne, not_

__all__ = [
    "gopher_quality",
    "gopher_repetition",
    "c4_lines",
    "c4_bad_words",
    "fineweb",
    "refinedweb_lines",
]


# --------------------------------------------------------------------------------------------- helpers

#: Characters stripped from token edges on the fast path: ASCII punctuation and symbols plus the
#: non-ASCII punctuation web text is full of. All are Unicode P* or S*; any other P*/S* character at a
#: token edge is handled by the slow path in ``_words``.
_EDGE_PUNCT = string.punctuation + "“”‘’«»…–—•·¡¿„‚‹›′″©®™°§¶†‡"
_FAST_CHARS = frozenset(_EDGE_PUNCT) | frozenset(map(chr, range(128)))
_category = unicodedata.category


def _is_punct(ch: str) -> bool:
    return _category(ch)[0] in "PS"


def _strip_punct(word: str) -> str:
    start, end = 0, len(word)
    while start < end and _is_punct(word[start]):
        start += 1
    while end > start and _is_punct(word[end - 1]):
        end -= 1
    return word[start:end]


_words_cache: tuple[str | None, list[str]] = (None, [])


def _words(text: str) -> list[str]:
    """Gopher words: whitespace tokens with leading/trailing Unicode punctuation and symbols (P*, S*)
    stripped; tokens that are all punctuation are not words. Do not mutate the result (it is cached).

    ``str.strip`` with a fixed character set does the work in C; only a document that contains some
    other P*/S* character (rare in web text: "⟨", "【", emoji) takes the per-word category check. The
    last result is memoised by identity because the stages score the same string object several
    times (``gopher_repetition``, ``gopher_quality``); the tuple swap is atomic, so this is thread-safe.
    """
    global _words_cache
    cached = _words_cache
    if cached[0] is text:
        return cached[1]
    words = [w for w in map(str.strip, text.split(), repeat(_EDGE_PUNCT)) if w]
    if not text.isascii():
        odd = {c for c in set(text) - _FAST_CHARS if _is_punct(c)}
        if odd:
            words = [_strip_punct(w) if (w[0] in odd or w[-1] in odd) else w for w in words]
            words = [w for w in words if w]
    _words_cache = (text, words)
    return words


def _count_alpha_words(words: list[str]) -> int:
    """Words containing at least one alphabetic character (``str.isalpha``), mostly in C."""
    n = sum(map(str.isalpha, words))  # all-letter words: the large majority
    mixed = list(compress(words, map(not_, map(str.isalpha, words))))
    return n + sum(1 for w in mixed if any(map(str.isalpha, w)))


_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")
_ASCII_NON_LETTER = bytes(c for c in range(128) if not chr(c).isalpha())
_ASCII_NON_UPPER = bytes(c for c in range(128) if not chr(c).isupper())


def _case_counts(line: str) -> tuple[int, int]:
    """(letters, uppercase letters) in ``line`` per ``str.isalpha``/``str.isupper``.

    ASCII characters are counted with ``bytes.translate`` (C speed); only non-ASCII characters are
    looked at one by one.
    """
    b = line.encode("ascii", "ignore")
    letters = len(b.translate(None, _ASCII_NON_LETTER))
    upper = len(b.translate(None, _ASCII_NON_UPPER))
    if len(b) != len(line):
        extra = _NON_ASCII_RE.findall(line)
        letters += sum(map(str.isalpha, extra))
        upper += sum(map(str.isupper, extra))
    return letters, upper


_ALNUM_RE = re.compile(r"[^\W_]")


def _ratio(num: float, den: float) -> float:
    """num/den clamped to [0, 1]; 0/0 is 0.0 and x/0 (x > 0) is 1.0."""
    if den <= 0:
        return 1.0 if num > 0 else 0.0
    r = num / den
    return 1.0 if r > 1.0 else float(r)


def _normalise_newlines(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _non_empty_lines(text: str) -> list[str]:
    return list(filter(str.strip, text.splitlines()))


# ------------------------------------------------------------------------------------- Gopher quality

#: Gopher §A.1.1 stop words ("the, be, to, of, and, that, have, with").
GOPHER_STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
#: Bullet characters a line may start with (after leading whitespace). datatrove checks only "•";
#: extractors render HTML lists with any of these, so we take the wider set.
BULLETS = ("•", "●", "○", "▪", "■", "-", "*", "‣", "⁃", "◦")
_ELLIPSES = ("...", "…")


def gopher_quality(text: str) -> dict[str, float]:
    """Gopher document-quality signals (Rae et al. 2021, §A.1.1).

    The paper removes a document whose word count is outside 50-100,000, whose mean word length is
    outside 3-10, whose ``#`` or ellipsis to word ratio exceeds 0.1, that has > 90% of lines starting
    with a bullet or > 30% ending with an ellipsis, < 80% of words containing a letter, or fewer than
    2 of the stop words. This returns the value behind each rule:

    - ``word_count``, ``mean_word_length`` over words (see module docstring: whitespace tokens with
      surrounding punctuation stripped, where datatrove uses NLTK tokens).
    - ``hash_word_ratio`` = ``text.count("#") / words``; ``ellipsis_word_ratio`` = (count of ``...``
      plus ``…``) / words (as datatrove; clamped to 1).
    - ``bullet_line_ratio`` / ``ellipsis_line_ratio`` over *non-empty* lines (datatrove divides by all
      ``splitlines()`` lines, so blank lines between paragraphs dilute both ratios there).
    - ``alpha_word_ratio``: words containing a letter (Unicode L*) / words.
    - ``stop_word_count``: number of *distinct* stop words present, case-insensitively. The paper says
      "at least two of the following English words"; datatrove counts occurrences (case-sensitive),
      which lets a text with "the" twice pass.

    Ranges: ``word_count`` is a count; ``stop_word_count`` a count in [0, 8]; ``mean_word_length`` >= 0
    (0.0 exactly when there are no words); every other value is in [0, 1].
    """
    words = _words(text)
    n_words = len(words)
    lines = _non_empty_lines(text)
    n_lines = len(lines)
    n_chars = sum(map(len, words))
    alpha = _count_alpha_words(words)
    stop = len(GOPHER_STOP_WORDS.intersection(map(str.lower, words)))
    bullets = sum(map(str.startswith, map(str.lstrip, lines), repeat(BULLETS)))
    ellipsis_lines = sum(map(str.endswith, map(str.rstrip, lines), repeat(_ELLIPSES)))
    return {
        "word_count": float(n_words),
        "mean_word_length": n_chars / n_words if n_words else 0.0,
        "hash_word_ratio": _ratio(text.count("#"), n_words),
        "ellipsis_word_ratio": _ratio(text.count("...") + text.count("…"), n_words),
        "bullet_line_ratio": _ratio(bullets, n_lines),
        "ellipsis_line_ratio": _ratio(ellipsis_lines, n_lines),
        "alpha_word_ratio": _ratio(alpha, n_words),
        "stop_word_count": float(stop),
    }


# ---------------------------------------------------------------------------------- Gopher repetition

_PARAGRAPH_SPLIT = re.compile(r"\n{2,}")
_LINE_SPLIT = re.compile(r"\n+")


def _find_duplicates(elements: list[str]) -> tuple[int, int]:
    """(number, total length) of elements equal to an earlier element (datatrove ``find_duplicates``).

    Every element but the first copy of each distinct value is a duplicate, so both numbers follow from
    the set of distinct values without a Python loop.
    """
    distinct = set(elements)
    return len(elements) - len(distinct), sum(map(len, elements)) - sum(map(len, distinct))


def _ngram_scores(words: list[str]) -> dict[str, float]:
    """Top 2/3/4-gram and duplicate 5..10-gram character fractions over ``words``.

    Characters are word characters (no separators), over the total characters of all words, as in
    Gopher and RedPajama-V2 (datatrove measures ``" ".join(ngram)`` against ``len(text)``).

    Near-linear work, all per-position steps in C (``map``/``zip``/``compress``):
    - an n-gram is identified by an integer, the position of its first occurrence, computed from the
      pair (id of its (n-1)-gram prefix, id of its last word) - no tuples of n strings are built;
    - an n-gram can only repeat where its (n-1)-gram prefix repeats, so step n only looks at the
      positions whose (n-1)-gram occurs more than once (all positions for n = 2). That changes no count
      above 1 and no first occurrence, so the results equal counting every n-gram.
    Top n-gram ties go to the earliest first occurrence (datatrove: ``Counter.most_common(1)``); when
    every n-gram is unique the top one is the document's first n-gram, counted once.
    """
    out: dict[str, float] = {}
    n_words = len(words)
    total = sum(map(len, words))
    prefix = [0, *accumulate(map(len, words))]
    vocab = {}
    wid = list(map(vocab.setdefault, words, count()))
    cand = list(range(n_words))
    ids = wid
    for n in range(2, 11):
        k = bisect_right(cand, n_words - n)
        if k != len(cand):
            cand = cand[:k]
            ids = ids[:k]
        if n == 2:
            keys = zip(ids, wid[1:])
        else:
            keys = zip(ids, map(wid.__getitem__, map(add, cand, repeat(n - 1))))
        first = {}
        nids = list(map(first.setdefault, keys, cand))
        later = list(map(ne, nids, cand))
        later_ids = list(compress(nids, later))
        if n <= 4:
            if n_words < n:
                score = 0.0
            elif later_ids:
                c = Counter(later_ids)
                m = max(c.values())
                best = min(i for i, v in c.items() if v == m)
                score = _ratio((m + 1) * (prefix[best + n] - prefix[best]), total)
            else:
                score = _ratio(prefix[n], total)
            out[f"top_{n}gram_char_frac"] = score
        rep = set(later_ids)
        mask = list(map(rep.__contains__, nids))
        cand = list(compress(cand, mask))
        ids = list(compress(nids, mask))
        if n >= 5:
            seen = set()
            nxt = dup = 0
            for i, g in zip(cand, ids):
                if i < nxt:
                    continue
                if g in seen:
                    dup += prefix[i + n] - prefix[i]
                    nxt = i + n
                else:
                    seen.add(g)
                    nxt = i + 1
            out[f"dup_{n}gram_char_frac"] = _ratio(dup, total)
    return out


def gopher_repetition(text: str) -> dict[str, float]:
    """Gopher repetition signals (Rae et al. 2021, Table A1), with datatrove's semantics.

    The paper removes a document above: duplicate line / paragraph fraction 0.30, duplicate line /
    paragraph character fraction 0.20, top 2/3/4-gram character fraction 0.20/0.18/0.16, duplicate
    5..10-gram character fraction 0.15..0.10.

    - Paragraphs are ``text.strip()`` split on ``\\n{2,}``, lines on ``\\n+`` (``\\r\\n``/``\\r`` count as
      ``\\n``). ``dup_*_frac`` = elements equal to an *earlier* element / elements;
      ``dup_*_char_frac`` = characters of those repeated elements / ``len(text)``. Elements are
      compared exactly (no case or whitespace folding), as datatrove does. datatrove splits lines with
      ``splitlines()``, which keeps the blank lines between paragraphs as lines - all duplicates of
      ``""`` - so text with blank-line paragraph breaks gets ``dup_line_frac`` near 0.5 there (over the
      0.3 threshold); ``\\n+`` does not count them.
    - n-grams are over lowercased words (punctuation stripped), as Gopher/RedPajama-V2 normalise; their
      character counts are word characters over all words' characters. ``top_n``: characters of the
      most frequent n-gram times its count (clamped to 1: an n-gram overlapping itself, "a a a", can
      count more characters than exist). ``dup_n``: characters of n-grams that occur again later,
      counted left to right without overlap as datatrove's ``find_all_duplicate`` does - so only the
      2nd and later copies count, where the Gopher paper's own description would also count the first
      copy; the recipe thresholds are the ones FineWeb ran with these semantics.

    Ranges: every value is in [0, 1]; all are 0.0 for blank text.
    """
    words = _words(text)
    text = _normalise_newlines(text)
    stripped = text.strip()
    if not stripped:
        return {
            "dup_line_frac": 0.0,
            "dup_para_frac": 0.0,
            "dup_line_char_frac": 0.0,
            "dup_para_char_frac": 0.0,
            **{f"top_{n}gram_char_frac": 0.0 for n in (2, 3, 4)},
            **{f"dup_{n}gram_char_frac": 0.0 for n in range(5, 11)},
        }
    n_chars = len(text)
    paragraphs = _PARAGRAPH_SPLIT.split(stripped)
    para_dups, para_chars = _find_duplicates(paragraphs)
    lines = _LINE_SPLIT.split(stripped)
    line_dups, line_chars = _find_duplicates(lines)
    scores = {
        "dup_line_frac": _ratio(line_dups, len(lines)),
        "dup_para_frac": _ratio(para_dups, len(paragraphs)),
        "dup_line_char_frac": _ratio(line_chars, n_chars),
        "dup_para_char_frac": _ratio(para_chars, n_chars),
    }
    scores.update(_ngram_scores(list(map(str.lower, words))))
    return scores


# ------------------------------------------------------------------------------------------------ C4

#: C4 citation markers (TFDS c4_utils): "[1]", "[]", "[edit]", "[citation needed]".
_CITATION_RE = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
#: C4 end marks ``. ? ! "`` plus the typographic closing double quotes extractors emit.
C4_END_MARKS = (".", "?", "!", '"', "”", "»")
#: TFDS c4_utils ``_POLICY_SUBSTRINGS``, verbatim.
C4_POLICY_SUBSTRINGS = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
#: Line-drop substrings (searched in the lowercased line) by (drop_javascript_lines, drop_policy_lines).
_C4_DROP_RE: dict[tuple[bool, bool], re.Pattern[str] | None] = {
    (True, True): re.compile("|".join(map(re.escape, ("javascript", *C4_POLICY_SUBSTRINGS)))),
    (True, False): re.compile("javascript"),
    (False, True): re.compile("|".join(map(re.escape, C4_POLICY_SUBSTRINGS))),
    (False, False): None,
}
#: Tokens ending in "." that do not end a sentence (lowercased, final "." removed). A small stand-in
#: for punkt's learned abbreviation list.
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt vs v no nos fig figs vol vols pp ed eds inc ltd co corp jan feb
    mar apr jun jul aug sep sept oct nov dec gen col lt sgt capt rev hon gov sen rep est approx dept univ
    e.g i.e cf al ca""".split()
)
#: A sentence end inside a line: . ! ? or … (then closing quotes/brackets), whitespace, and a next
#: character (group 1). Starting with a character class lets ``re`` skip ahead in C.
_SENTENCE_END_RE = re.compile(r"[.!?…]+[\"'”’»)\]]*\s+(?=(\S))")
_ACRONYM_RE = re.compile(r"(?:[^\W\d_]\.)*[^\W\d_]")


def _count_sentences(line: str) -> int:
    """Sentences in one non-empty line, by a regex splitter (NLTK punkt cannot be downloaded here).

    A line is one sentence plus one per internal boundary: ``.``/``!``/``?``/``…`` followed by
    whitespace, unless the next character is lowercase (``"wait... what"``) or the token before is an
    abbreviation ("Dr.", "e.g."), an initial ("J.") or a dotted acronym ("U.S."). Decimals ("3.5")
    have no whitespace after the dot and never split. This matches punkt on ordinary prose; punkt
    additionally learns abbreviations and splits some of the cases skipped here.
    """
    count = 1
    for m in _SENTENCE_END_RE.finditer(line):
        if m.group(1).islower():
            continue
        start = m.start()
        before = line[max(0, start - 24) : start].split()
        if before and not line[start - 1].isspace():
            core = before[-1].lstrip("\"'“‘«([").lower()
            if core in _ABBREVIATIONS or (core and _ACRONYM_RE.fullmatch(core)):
                continue
        count += 1
    return count


def _remove_citations(line: str) -> str:
    # Repeat until stable: "[[1]]" -> "[]" -> "" (one pass would leave a new marker, so a second
    # application of c4_lines would change the text again).
    n = 1
    while n:
        line, n = _CITATION_RE.subn("", line)
    return line


def c4_lines(
    text: str,
    *,
    drop_no_terminal_punct: bool = False,
    min_words_per_line: int = 5,
    max_word_length: int = 1000,
    drop_javascript_lines: bool = True,
    drop_policy_lines: bool = True,
    remove_citations: bool = True,
) -> tuple[str, dict[str, float]]:
    """C4's line-level cleaning (Raffel et al. 2020, §2.2; TFDS ``c4_utils.clean_page``).

    Each line is stripped, then (in C4's order) dropped if it has a word longer than
    ``max_word_length`` characters (negative disables), its citation markers are removed, and it is
    dropped if it has no terminal punctuation (only with ``drop_no_terminal_punct``: ``. ? ! "`` and
    ``”``/``»``; a line ending in ``...`` is not terminal), has fewer than ``min_words_per_line`` words
    (C4: 5 - datatrove's default of 3 swaps C4's 5-per-line/3-sentences, and is not copied here),
    contains "javascript", or contains a C4 policy phrase (cookie / terms of use / privacy policy).
    Blank lines are dropped and not counted. Kept lines are joined with ``"\\n"``.

    Page-level rules become scores for the recipe to threshold: ``sentence_count`` of the edited text
    (C4 drops pages with < 3), ``lorem_ipsum`` and ``curly_bracket`` (1.0 if present anywhere in the
    *original* text; C4 only looked at lines it kept, so a ``{`` in a dropped code line did not count
    there, but does here - a page with code is not what C4 wanted either). ``lines_removed_frac`` is
    removed / non-empty input lines, ``words_removed_frac`` is 1 - words(out) / words(in) (whitespace
    words; citation markers removed inside kept lines count as removed words).

    Deliberate differences from TFDS, all for idempotency: citation markers are removed until none is
    left (``[[1]]``), the line is stripped again after removing them (C4 would drop ``"...end. [1]"``
    as non-terminal because of the trailing space), and the word-length check runs on the line after
    citation removal (removal can join two tokens).

    Ranges: ``lines_removed_frac`` and ``words_removed_frac`` in [0, 1]; ``sentence_count`` a count (0.0
    exactly when no line is kept); ``lorem_ipsum`` and ``curly_bracket`` 0.0 or 1.0.
    """
    drop_rx = _C4_DROP_RE[(drop_javascript_lines, drop_policy_lines)]
    lower_text = text.lower()
    if drop_rx is not None and not drop_rx.search(lower_text) and not (remove_citations and "[" in text):
        # One scan of the page instead of one per line, in the common case. (Removing a citation can
        # join "java[1]script", so pages with brackets keep the per-line check.)
        drop_rx = None
    kept: list[str] = []
    n_lines = n_removed = 0
    sentences = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        n_lines += 1
        if remove_citations and "[" in line:
            line = _remove_citations(line).strip()
        words = line.split()
        if (
            not words
            or (0 <= max_word_length < len(line) and max(map(len, words)) > max_word_length)
            or (drop_no_terminal_punct and (not line.endswith(C4_END_MARKS) or line.endswith("...")))
            or len(words) < min_words_per_line
        ):
            n_removed += 1
            continue
        if drop_rx is not None and drop_rx.search(line.lower()):
            n_removed += 1
            continue
        sentences += _count_sentences(line)
        kept.append(line)
    edited = "\n".join(kept)
    words_in = len(text.split())
    words_out = len(edited.split())
    return edited, {
        "lines_removed_frac": _ratio(n_removed, n_lines),
        "words_removed_frac": _ratio(words_in - words_out, words_in),
        "sentence_count": float(sentences),
        "lorem_ipsum": 1.0 if "lorem ipsum" in lower_text else 0.0,
        "curly_bracket": 1.0 if "{" in text else 0.0,
    }


def _trie_regex(phrases: list[list[str]]) -> str:
    """Regex alternation of ``phrases`` (lists of regex atoms) as a prefix trie.

    A flat ``a|b|c`` of a few hundred words tries every alternative at every position of the text; the
    trie tries each character once. Longer alternatives are tried first (optional tails are greedy), so
    the longest phrase at a position wins.
    """
    trie: dict = {}
    for atoms in phrases:
        node = trie
        for atom in atoms:
            node = node.setdefault(atom, {})
        node[""] = {}

    def emit(node: dict) -> str:
        end = "" in node
        alts = []
        for atom in sorted(k for k in node if k):
            child = node[atom]
            # Path compression keeps nesting shallow for long phrases.
            seq = [atom]
            while "" not in child and len(child) == 1:
                (nxt,) = child
                seq.append(nxt)
                child = child[nxt]
            alts.append("".join(seq) + emit(child))
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if end:
            return ("(?:" + body + ")?") if len(alts) == 1 else body + "?"
        return body

    return emit(trie)


@lru_cache(maxsize=16)
def _bad_words_regex(bad_words: frozenset[str]) -> re.Pattern[str] | None:
    phrases = []
    for phrase in bad_words:
        words = phrase.lower().split()
        if not words:
            continue
        atoms: list[str] = []
        for k, word in enumerate(words):
            if k:
                atoms.append(r"\s+")
            atoms.extend(re.escape(c) for c in word)
        phrases.append(atoms)
    if not phrases:
        return None
    # Left boundary as a look-behind: cheaper than trying the trie at every letter. The right boundary
    # is a look-ahead so the trie can fall back to a shorter phrase when a longer one runs into a word
    # character.
    return re.compile(r"(?<!\w)" + _trie_regex(phrases) + r"(?!\w)")


def c4_bad_words(text: str, bad_words: frozenset[str]) -> float:
    """Number of bad-word matches in ``text`` (C4's LDNOOBW page filter, as a count).

    C4 drops a page containing any word of the "List of Dirty, Naughty, Obscene, and Otherwise Bad
    Words"; the recipe decides with ``bad_words < 1``. Matching is on the lowercased text, whole words
    only (no word character on either side: C4's ``[^a-z]`` flanks, which also missed a word at the
    very start or end of the page; datatrove's ``\\W|^``). A multi-word entry matches across any run of
    whitespace. Matches do not overlap; the longest entry at a position wins. CJK lists (where
    datatrove drops the boundary requirement) still need a boundary here.
    """
    if not bad_words or not text:
        return 0.0
    rx = _bad_words_regex(bad_words)
    if rx is None:
        return 0.0
    return float(len(rx.findall(text.lower())))


# -------------------------------------------------------------------------------------------- FineWeb

#: FineWeb line-end punctuation: datatrove's ``(".", "'", '"', "!", "?")`` plus the typographic
#: closing quotes and "…" (datatrove already counts "..." through its final ".").
FINEWEB_END_MARKS = (".", "'", '"', "!", "?", "”", "’", "…")
FINEWEB_SHORT_LINE = 30


def fineweb(text: str) -> dict[str, float]:
    """FineWeb's own line rules (Penedo et al. 2024, §3.5; datatrove ``FineWebQualityFilter``).

    FineWeb removes a document where <= 0.12 of lines end in punctuation, >= 0.1 of characters are in
    duplicated lines (0.01 in the appendix and datatrove's default - the recipe picks), or >= 0.67 of
    lines are shorter than 30 characters; datatrove adds newlines / words > 0.3.

    - ``line_punct_ratio``: non-empty lines whose right-stripped text ends in ``FINEWEB_END_MARKS`` /
      non-empty lines.
    - ``dup_line_char_frac``: characters of non-empty lines equal to an earlier line / characters of all
      lines (newlines excluded) - datatrove's definition.
    - ``short_line_ratio``: non-empty lines with fewer than 30 characters (stripped) / non-empty lines.
    - ``newline_word_ratio``: ``\\n`` count / words (clamped to 1; 1.0 for newlines and no words).

    Differences from datatrove, deliberate: ratios are over non-empty lines (datatrove counts blank
    lines, which are all "short" and never "punctuated", so paragraph spacing alone moved both ratios);
    line ends are right-stripped before the punctuation test; "short" is ``< 30`` as the paper says
    (datatrove: ``<= 30``); words are whitespace words, not NLTK tokens (which count punctuation, so
    datatrove's newline ratio is somewhat lower for the same text).

    Ranges: all four values are in [0, 1].
    """
    n_words = len(_words(text))
    text = _normalise_newlines(text)
    lines = text.splitlines()
    non_empty = list(filter(str.strip, lines))
    n = len(non_empty)
    punct = sum(map(str.endswith, map(str.rstrip, non_empty), repeat(FINEWEB_END_MARKS)))
    short = sum(map(FINEWEB_SHORT_LINE.__gt__, map(len, map(str.strip, non_empty))))
    _, dup_chars = _find_duplicates(non_empty)
    return {
        "line_punct_ratio": _ratio(punct, n),
        "dup_line_char_frac": _ratio(dup_chars, sum(map(len, lines))),
        "short_line_ratio": _ratio(short, n),
        "newline_word_ratio": _ratio(text.count("\n"), n_words),
    }


# ----------------------------------------------------------------------------------------- RefinedWeb

#: Engagement counters, a whole line: "3 likes", "12 Comments", "1.2k views", "5 shares". Extends
#: DCLM's RefinedWeb reproduction regex with singular forms and a few more counters.
_COUNTER_RE = re.compile(
    r"^[\W_]*\d[\d,.]*[kmb]?\+?\s+(?:likes?|shares?|comments?|views?|retweets?|reposts?|quotes?|"
    r"bookmarks?|upvotes?|downvotes?|votes?|downloads?|followers?|subscribers?|repl(?:y|ies)|"
    r"reactions?|favou?rites?|claps?|reads?)[\W_]*$",
    re.IGNORECASE,
)


#: Boilerplate that starts a short line (RefinedWeb's example: "sign-in"), lowercase, single spaces.
#: A match must end at a word boundary ("login" does not match "logins"; "-" counts as part of a
#: word). "share" alone is an ordinary verb ("Share your story"), so it is only taken when nothing but
#: punctuation follows ("Share:", "Share | Tweet").
REFINEDWEB_START = (
    "sign in", "sign-in", "signin", "sign up", "sign-up", "signup", "log in", "log-in", "login",
    "log out", "logout", "subscribe", "tweet", "tweet this", "share this", "share this post",
    "share this article", "share this page", "share this story", "share on", "share on facebook",
    "share on twitter", "share on x", "share on linkedin", "share on reddit", "share on pinterest",
    "share on whatsapp", "share via", "share via email", "follow us", "follow us on", "skip to content",
    "skip to main content", "jump to navigation", "advertisement",
)  # fmt: skip
#: Boilerplate that ends a short line (RefinedWeb's example: "Read more..."), only when set off from
#: what precedes it by punctuation, or alone: "Teaser… Read more »" but not "I should read more."
REFINEDWEB_END = (
    "read more", "read full article", "read the full article", "read the full story", "read full story",
    "continue reading", "continue reading the main story", "keep reading", "see more", "show more",
    "view more", "load more", "learn more", "click here", "more info",
)  # fmt: skip
#: Boilerplate anywhere in a short line (RefinedWeb's example: "items in cart"), whole words.
REFINEDWEB_ANYWHERE = (
    "items in cart", "item in cart", "items in your cart", "add to cart", "add to basket", "add to bag",
    "add to wishlist", "add to wish list", "your cart is empty", "shopping cart", "view cart",
    "cookie settings", "cookies settings", "cookie preferences", "cookie policy", "manage cookies",
    "accept cookies", "accept all cookies", "we use cookies", "uses cookies", "use of cookies", "accept all", "copy link", "all rights reserved", "privacy policy", "terms of use",
    "terms of service", "terms and conditions",
)  # fmt: skip
REFINEDWEB_MAX_EDIT_WORDS = 10

#: Separators removed together with a start/end phrase: whitespace, punctuation, arrows and bullets.
_RW_SEPARATORS = _EDGE_PUNCT + " \t\u00a0\u2009\u200b→←↑↓›‹►▶▸◂◀✓✔✕✖×|"
_RW_START_LONGEST = tuple(sorted(REFINEDWEB_START, key=len, reverse=True))
_RW_END_LONGEST = tuple(sorted(REFINEDWEB_END, key=len, reverse=True))
_RW_ANYWHERE_RE = re.compile("|".join(map(re.escape, sorted(REFINEDWEB_ANYWHERE, key=len, reverse=True))))


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_" or ch == "-"


def _same_length_lower(line: str) -> str:
    low = line.lower()
    if len(low) == len(line):
        return low
    # A few characters lowercase to two ("İ" -> "i̇"); keep those as they are so offsets line up.
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in line)


def _rw_edit(line: str) -> str:
    """Remove RefinedWeb boilerplate spans from a short line (offsets found on its lowercase copy)."""
    low = _same_length_lower(line)
    # start
    rest = low.lstrip(_RW_SEPARATORS)
    if rest.startswith(_RW_START_LONGEST) or rest.startswith("share"):
        cut = -1
        for phrase in _RW_START_LONGEST:
            if rest.startswith(phrase) and not (len(rest) > len(phrase) and _is_word_char(rest[len(phrase)])):
                cut = len(low) - len(rest) + len(phrase)
                break
        else:
            # bare "share": only when nothing but punctuation follows ("Share:", "Share | Tweet")
            after = rest[5:]
            if rest.startswith("share") and not after[:1].isalnum() and not after.lstrip()[:1].isalnum():
                if not after[:1] or not _is_word_char(after[0]):
                    cut = len(low) - len(rest) + 5
        if cut >= 0:
            kept = line[cut:].lstrip(_RW_SEPARATORS)
            line, low = kept, low[len(low) - len(kept) :]
    # end
    body = low.rstrip(_RW_SEPARATORS)
    if body.endswith(_RW_END_LONGEST):
        for phrase in _RW_END_LONGEST:
            if body.endswith(phrase):
                before = body[: len(body) - len(phrase)].rstrip()
                if not before or not _is_word_char(before[-1]):
                    line, low = line[: len(before)], low[: len(before)]
                    break
    # anywhere
    if _RW_ANYWHERE_RE.search(low):
        parts: list[str] = []
        pos = 0
        for m in _RW_ANYWHERE_RE.finditer(low):
            s, e = m.span()
            if (s and _is_word_char(low[s - 1])) or (e < len(low) and _is_word_char(low[e])):
                continue
            parts.append(line[pos:s].rstrip(" \t"))
            pos = e
            while pos < len(line) and line[pos] in " \t":
                pos += 1
        parts.append(line[pos:])
        line = " ".join(p for p in parts if p)
    return line


def _rw_word_count(line: str) -> int:
    """Words of a line: whitespace tokens that are not only separators ("|", "»", "—", "©")."""
    return len(list(filter(None, map(str.strip, line.split(), repeat(_RW_SEPARATORS)))))


def _refinedweb_line(line: str, n_words: int) -> str | None:
    """One line through RefinedWeb's rules until nothing changes; None if the line is dropped.

    Repeating until stable makes the function idempotent: an edit can leave a single word, an
    all-caps remainder or another pattern, which a second pass would otherwise act on.
    """
    while True:
        if n_words <= 1:  # a single word ("Home", "Login |"), or none
            return None
        letters, upper = _case_counts(line)
        if not letters:  # only digits, punctuation, symbols and spaces
            return None
        if 2 * upper > letters:  # mostly uppercase
            return None
        if not line[:1].isalpha() and _COUNTER_RE.match(line):  # a counter starts with its number
            return None
        if n_words > REFINEDWEB_MAX_EDIT_WORDS:
            return line
        edited = _rw_edit(line)
        if edited == line:
            return line
        line = edited.strip()
        if not _ALNUM_RE.search(line):  # nothing meaningful left
            return None
        n_words = _rw_word_count(line)


def refinedweb_lines(text: str) -> tuple[str, dict[str, float]]:
    """RefinedWeb line-wise corrections (Penedo et al. 2023, App. G.2).

    A *word* here is a whitespace token that is not only separators (so "Login |" is one word, and
    "|" or "—" never count). A non-blank line is *removed* if it is mostly uppercase (more than half
    of its letters are uppercase), only numeric (no letter at all: digits, punctuation, symbols,
    spaces), an engagement counter ("3 likes", "1.2k views") or a single word. A short line (<= 10
    words) is *edited*: a boilerplate phrase at its start ("Sign in", "Share this:"), at its end
    ("... Read more »", only when set off by punctuation) or anywhere ("Add to cart", "Cookie settings") is
    removed with the surrounding separators, the line is stripped, and the rules run again on what is
    left until nothing changes (so "Sign In / Create Account" becomes "Create Account", and "Share:
    Tweet" goes entirely). RefinedWeb published the rule types and one example each, not its pattern lists:
    ``REFINEDWEB_START/END/ANYWHERE`` are ours. Cookie banners are matched as phrases ("cookie
    settings", "we use cookies"), never the bare word, which would cut "Chocolate Chip Cookies".

    Blank lines are kept as they are (they carry paragraph structure for ``gopher_repetition``),
    except trailing ones; the result is "" when no non-blank line survives. Scores:
    ``removed_word_frac`` = words removed (whole lines and edited spans) / words in the input -
    RefinedWeb drops a document above 0.05; ``lines_removed`` = lines dropped entirely.
    Ranges: ``removed_word_frac`` in [0, 1]; ``lines_removed`` a count, at most the input's line count.
    """
    out: list[str] = []
    words_in = removed_words = lines_removed = 0
    has_content = False
    for line in text.splitlines():
        if not line or line.isspace():
            out.append(line)
            continue
        n = _rw_word_count(line)
        words_in += n
        new = _refinedweb_line(line, n)
        if new is None:
            lines_removed += 1
            removed_words += n
            continue
        if new is not line:
            removed_words += max(0, n - _rw_word_count(new))
        out.append(new)
        has_content = True
    while out and (not out[-1] or out[-1].isspace()):
        out.pop()  # trailing blank lines would not survive a second split, so drop them now
    edited = "\n".join(out) if has_content else ""
    return edited, {
        "removed_word_frac": _ratio(removed_words, words_in),
        "lines_removed": float(lines_removed),
    }
