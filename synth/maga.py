"""MAGA genre–audience reformulation (Hao, Shen, Li; arXiv 2502.04235), as plain Python.

Two LM stages per source document, as in the paper:

(a) the LM reads the document and proposes N (default 5) distinct (genre, audience) pairs as a JSON list
    (``prompts/pairs_v1.txt``): a text-only genre in 2–3 sentences, an audience in 2 sentences, at
    least one uninterested or sceptical audience, no repeated pairs;
(b) the LM rewrites the document once per pair, keeping its information (``prompts/rewrite_v1.txt``).

Then the paper's "limited consistency" principle (enough variation to add diversity, enough fidelity to
keep the information) as checks. Each check is a pure function returning a score; thresholds are
``filters.decide`` rules over those scores, so a failing rewrite gets the reason ``synth:<check>`` and
its scores stay available for re-thresholding, like every other stage of the project. Places the model's
proposals leave (unusable, duplicate or copied from the prompt's example; a reply that does not parse)
are filled from a curated genre × audience catalogue (``Catalogue``); without one, stage (a) fails a
document with ``synth:json`` or ``synth:pairs``. Rewrites stop at a budget proportional to the source and
are cut back to their last sentence, and where they start to loop; a source whose rewrites all fail gets
a round of fresh catalogue pairs. A backend failure is an error, never a drop and never an exception.

The backend is passed in (``synth.backends.Backend``); nothing here imports torch, transformers or an
HTTP client, so this module is tested without a model. Prompts are versioned files whose SHA-256 goes
into every synthetic document's provenance: editing a prompt means a new file name.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import xxhash

from filters.decide import Rule, decide, parse_rule
from synth.backends import Backend, Generation, SamplingParams

PROMPTS_DIR = Path(__file__).resolve().with_name("prompts")
STAGE = "synth"

# ------------------------------------------------------------------------------------------- templates

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True)
class PromptTemplate:
    """A prompt file: ``{{name}}`` placeholders, substituted in one pass (so a document that contains
    ``{{genre}}`` is left as it is). The name carries the version (``rewrite_v1``); ``sha256`` is of the
    file's bytes and identifies exactly what the model was asked."""

    name: str
    text: str
    sha256: str

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(_PLACEHOLDER.findall(self.text))

    def render(self, **values: object) -> str:
        missing = self.placeholders - values.keys()
        if missing:
            raise KeyError(f"prompt {self.name}: no value for {', '.join(sorted(missing))}")
        return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), self.text)

    def fixed_parts(self) -> list[str]:
        """The template's own words, between placeholders: what an output must not parrot back."""
        return [part for part in _PLACEHOLDER.split(self.text)[::2] if part.strip()]

    def example_pairs(self) -> list[Pair]:
        """The (genre, audience) pairs the template shows as worked examples (JSON in its own words;
        the "..." of a format line is not one)."""
        found: list[Pair] = []
        for part in self.fixed_parts():
            for candidate in json_candidates(part):
                try:
                    pairs = pairs_from_json(json.loads(candidate)) or []
                except (ValueError, RecursionError):
                    continue
                found.extend(p for p in pairs if words(p.genre) and words(p.audience) and p not in found)
        return found


@lru_cache(maxsize=None)
def load_prompt(name: str, directory: str | None = None) -> PromptTemplate:
    """Load ``<directory>/<name>.txt`` (default: ``synth/prompts``)."""
    path = Path(directory or PROMPTS_DIR) / f"{name}.txt"
    data = path.read_bytes()
    return PromptTemplate(name=name, text=data.decode("utf-8"), sha256=hashlib.sha256(data).hexdigest())


# ------------------------------------------------------------------------------------ text utilities

_WORD = re.compile(r"\w+", re.UNICODE)
_LETTERS = re.compile(r"[^\W\d_]{3,}", re.UNICODE)

#: Common English function words: not keywords, not evidence that two pairs are the same.
STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each even ever every few for from further
    get gets got had has have having he her here hers herself him himself his how however i if in into is it
    its itself just least less let like made make many may me might more most much must my myself no nor not
    now of off often on once one only or other our ours ourselves out over own per perhaps quite rather
    really said same say says she should since so some such than that the their theirs them themselves then
    there these they this those though through thus to too under until up upon us use used using very via
    was we well were what when where whether which while who whom whose why will with within without would
    yet you your yours yourself yourselves
    """.split()
)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _stem(word: str) -> str:
    """A deliberately crude suffix strip, applied to both sides of a comparison, so "photographs" in the
    source matches "photograph" in a rewrite. Keyword coverage needs recall, not linguistics."""
    if word.endswith("'s"):
        word = word[:-2]
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _content_stems(text: str) -> list[str]:
    return [_stem(w) for w in _LETTERS.findall(text.lower()) if w not in STOP_WORDS]


def prepare_source(text: str, max_chars: int) -> tuple[str, bool]:
    """The part of a document shown to the LM: at most ``max_chars``, cut at a paragraph, line or word
    boundary in the last fifth when there is one. Checks compare the rewrite with this part, not the
    whole document, or every long document would fail keyword coverage."""
    text = text.strip()
    if len(text) <= max_chars:
        return text, False
    head = text[:max_chars]
    for sep in ("\n\n", "\n", " "):
        cut = head.rfind(sep)
        if cut >= max_chars * 0.8:
            return head[:cut].rstrip(), True
    return head, True


# ---------------------------------------------------------------------------------- stage (a): pairs


@dataclass(frozen=True)
class Pair:
    """A genre and an audience to rewrite for. ``origin``: ``model`` (proposed by the LM in stage a) or
    ``catalogue`` (chosen from the curated catalogue because the LM's proposals fell short)."""

    genre: str
    audience: str
    origin: str = "model"


_FENCE = re.compile(r"```[A-Za-z0-9_-]*")
_CLOSE = {"[": "]", "{": "}"}


def _scan_json(s: str, start: int = 0) -> Iterator[tuple[int, str, bool]]:
    """(index, char, outside) from ``start``: ``outside`` is False for quotes and everything inside JSON
    string literals (escapes honoured), so brackets and commas in strings are never taken as structure."""
    in_string = escaped = False
    for i in range(start, len(s)):
        ch = s[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            yield i, ch, False
        elif ch == '"':
            in_string = True
            yield i, ch, False
        else:
            yield i, ch, True


def _matching_close(s: str, start: int) -> int | None:
    """Index of the bracket closing ``s[start]``, honouring strings and escapes; None if unclosed."""
    stack: list[str] = []
    for i, ch, outside in _scan_json(s, start):
        if not outside:
            continue
        if ch in _CLOSE:
            stack.append(_CLOSE[ch])
        elif ch in "]}":
            if not stack or stack.pop() != ch:
                return None
            if not stack:
                return i
    return None


def _drop_trailing_commas(s: str) -> str:
    return "".join(
        ch for i, ch, outside in _scan_json(s)
        if not (outside and ch == "," and s[i + 1 :].lstrip()[:1] in ("]", "}"))
    )


def json_candidates(text: str, limit: int = 32) -> Iterator[str]:
    """Local repairs of an LM answer, in the order they start in the text: Markdown code fences
    stripped; each JSON array or object that closes (or a run of comma-separated objects, which small
    models emit instead of a list), with trailing commas dropped. An array that never closes (a
    truncated answer) is skipped, so its complete objects are still found; ``limit`` bounds the work."""
    s = _FENCE.sub("", text)
    pos = 0
    for _ in range(limit):
        starts = [i for i in (s.find("[", pos), s.find("{", pos)) if i >= 0]
        if not starts:
            return
        start = min(starts)
        pos = start + 1
        end = _matching_close(s, start)
        if end is None:
            continue
        items = [s[start : end + 1]]
        if s[start] == "{":
            after = end + 1
            while True:
                while after < len(s) and (s[after].isspace() or s[after] == ","):
                    after += 1
                if after >= len(s) or s[after] != "{":
                    break
                close = _matching_close(s, after)
                if close is None:
                    break
                items.append(s[after : close + 1])
                after = close + 1
        yield _drop_trailing_commas(items[0] if len(items) == 1 else "[" + ",".join(items) + "]")


def repair_json(text: str) -> str | None:
    """The first local repair of ``text`` (see ``json_candidates``), or None when nothing in it closes:
    only the LM can fix that."""
    return next(json_candidates(text), None)


def _flatten(value: object) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, Mapping):
        text = " ".join(_flatten(v) for v in value.values())
    elif isinstance(value, (list, tuple)):
        text = " ".join(_flatten(v) for v in value)
    elif value is None:
        text = ""
    else:
        text = str(value)
    return " ".join(text.split())


def pairs_from_json(obj: object) -> list[Pair] | None:
    """Pairs from parsed JSON: a list of objects with ``genre*`` and ``audience*`` keys (any case), or an
    object holding such a list (``{"pairs": [...]}``) or being one pair. None when the shape is wrong."""
    if isinstance(obj, Mapping):
        lists = [v for v in obj.values() if isinstance(v, list)]
        obj = lists[0] if lists and not _pair_keys(obj) else [obj]
    if not isinstance(obj, list):
        return None
    pairs = []
    for item in obj:
        if isinstance(item, Mapping):
            keys = _pair_keys(item)
            if keys:
                pairs.append(Pair(genre=_flatten(item[keys[0]]), audience=_flatten(item[keys[1]])))
    return pairs or None


def _pair_keys(item: Mapping) -> tuple[str, str] | None:
    genre = next((k for k in item if isinstance(k, str) and k.strip().lower().startswith("genre")), None)
    audience = next((k for k in item if isinstance(k, str) and k.strip().lower().startswith("audience")), None)
    return (genre, audience) if genre is not None and audience is not None else None


def parse_pairs(text: str) -> tuple[list[Pair], str] | None:
    """(pairs, "none") when the output is valid JSON of the right shape as it stands, (pairs, "local")
    from the first local repair that has the right shape (prose like "[1]" before the list is skipped),
    None when nothing works (the caller re-asks the LM once)."""
    try:
        pairs = pairs_from_json(json.loads(text.strip()))
        if pairs:
            return pairs, "none"
    except (ValueError, RecursionError):
        pass
    for candidate in json_candidates(text):
        try:
            pairs = pairs_from_json(json.loads(candidate))
        except (ValueError, RecursionError):
            continue
        if pairs:
            return pairs, "local"
    return None


#: Genres that are not text. The paper excludes "picture books, comics, videos"; we add their
#: neighbours. A genre is matched as a whole, so "a newspaper column for film students" is rejected too:
#: losing one of five proposals costs less than a rewrite that pretends to be a video.
NON_TEXT = re.compile(
    r"\b(videos?|vlogs?|youtube|tiktok|comics?|comic strips?|manga|graphic novels?|picture books?|"
    r"infographics?|animations?|animated|cartoons?|films?|movies?|podcasts?|slideshows?|slide decks?|"
    r"photo essays?|storyboards?)\b",
    re.IGNORECASE,
)


def pair_problem(pair: Pair, min_words: int = 4) -> str | None:
    """Why a proposed pair is unusable, or None: "empty"; "non_text"; "too_short" (fewer than
    ``min_words`` words in a field: the prompt asks for sentences, and a one-word label such as
    "Technology" gives the rewrite nothing to aim at); "same_text" (genre and audience say the same
    thing, a small-model failure)."""
    genre, audience = words(pair.genre), words(pair.audience)
    if not genre or not audience:
        return "empty"
    if NON_TEXT.search(pair.genre):
        return "non_text"
    if len(genre) < min_words or len(audience) < min_words:
        return "too_short"
    if _jaccard(set(_content_stems(pair.genre)), set(_content_stems(pair.audience))) >= 0.8:
        return "same_text"
    return None


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def near_identical(a: Pair, b: Pair, threshold: float) -> bool:
    """Two pairs are near-identical when both their genres and their audiences share at least
    ``threshold`` of their content words (Jaccard). Same genre for a different audience is a new pair."""
    return (
        _jaccard(set(_content_stems(a.genre)), set(_content_stems(b.genre))) >= threshold
        and _jaccard(set(_content_stems(a.audience)), set(_content_stems(b.audience))) >= threshold
    )


def _copies_example(pair: Pair, examples: Sequence[Pair], share: float = 0.6) -> bool:
    """Whether the genre or the audience takes at least ``share`` of its content words from the
    examples' genres (audiences). Containment, not Jaccard: SmolLM2 shortens the example
    ("first-year university students of biology.") rather than rephrasing it. The price: a document on
    the example's own subject may lose a fitting proposal to the catalogue."""
    for field_of in (lambda p: p.genre, lambda p: p.audience):
        own = set(_content_stems(field_of(pair)))
        seen = {w for e in examples for w in _content_stems(field_of(e))}
        if own and len(own & seen) >= share * len(own):
            return True
    return False


def dedup_pairs(pairs: Sequence[Pair], threshold: float = 0.6) -> tuple[list[Pair], int]:
    """Keep each pair unless it is near-identical to one kept before it; return (kept, duplicates)."""
    kept: list[Pair] = []
    for pair in pairs:
        if not any(near_identical(pair, k, threshold) for k in kept):
            kept.append(pair)
    return kept, len(pairs) - len(kept)


PAIR_PROBLEMS = ("empty", "non_text", "too_short", "same_text", "example")


def select_pairs(
    pairs: Sequence[Pair], n: int, threshold: float = 0.6, min_words: int = 4, examples: Sequence[Pair] = ()
) -> tuple[list[Pair], dict[str, float]]:
    """Usable, distinct pairs (at most ``n``, in the LM's order) and counts of what was set aside.
    ``examples``: the pairs the prompt showed; a proposal whose genre or audience is mostly made of theirs
    is "example" (``_copies_example``: a small model copies the worked example instead of reading the
    document, and the example is about another subject, so even half a copy does not fit)."""
    usable, problems = [], Counter()
    for pair in pairs:
        problem = pair_problem(pair, min_words)
        if problem is None and examples and _copies_example(pair, examples):
            problem = "example"
        if problem:
            problems[problem] += 1
        else:
            usable.append(pair)
    distinct, duplicates = dedup_pairs(usable, threshold)
    kept = distinct[:n]
    return kept, {
        "proposed": float(len(pairs)),
        **{p: float(problems[p]) for p in PAIR_PROBLEMS},
        "duplicates": float(duplicates),
        "kept": float(len(kept)),
    }


# ------------------------------------------------------------------------------- the pair catalogue


@dataclass(frozen=True)
class Catalogue:
    """Curated genres and audiences (``prompts/catalogue_v1.json``), written to MAGA's rules for a pair
    (a text-only genre in 2–3 sentences; an audience in 2 sentences, some uninterested or sceptical).

    Why it exists: a small model's own proposals are often labels ("Technology") or repeats, and a
    document with no usable pair would yield nothing. Stage (a) still asks the model first, so a capable
    model keeps MAGA's per-document diversity; the catalogue only fills the places its proposals leave.
    Versioned like a prompt: ``sha256`` of the file goes into the provenance of every pair taken from it.
    """

    name: str
    genres: tuple[str, ...]
    audiences: tuple[str, ...]
    sceptical: frozenset[int]  # indexes of the audiences that are uninterested or sceptical
    sha256: str

    def pairs_for(self, source_id: str, n: int, taken: Sequence[Pair] = (), seed: int = 0) -> list[Pair]:
        """``n`` catalogue pairs for one document, a function of its id and ``seed`` only: genres and
        audiences each in their own salted-hash order, so documents get different pairs and a document
        always gets the same ones. A genre already ``taken`` (or near one) is skipped, and when the
        document has no sceptical audience yet, its first catalogue pair gets one (MAGA asks for at
        least one uninterested or sceptical audience per document)."""

        def order(items: Sequence[str], salt: str) -> list[int]:
            key = f"{seed}\x1f{source_id}\x1f{salt}"
            return sorted(range(len(items)), key=lambda i: (xxhash.xxh3_64_intdigest(f"{key}\x1f{i}".encode("utf-8", "surrogatepass")), i))

        taken_genres = [set(_content_stems(p.genre)) for p in taken]
        genres = [i for i in order(self.genres, "genre")
                  if all(_jaccard(set(_content_stems(self.genres[i])), t) < 0.6 for t in taken_genres)]
        audiences = order(self.audiences, "audience")
        if not any(a in self.sceptical for a in (self.audiences.index(p.audience) for p in taken
                                                 if p.audience in self.audiences)):
            first = next((a for a in audiences if a in self.sceptical), None)
            if first is not None:
                audiences.remove(first)
                audiences.insert(0, first)
        count = min(n, len(genres), len(audiences))
        return [Pair(self.genres[g], self.audiences[a], origin="catalogue")
                for g, a in zip(genres[:count], audiences[:count])]


@lru_cache(maxsize=None)
def load_catalogue(name: str, directory: str | None = None) -> Catalogue:
    """Load ``<directory>/<name>.json`` (default: ``synth/prompts``): ``genres`` (strings) and
    ``audiences`` (``{"text", "sceptical"}``)."""
    path = Path(directory or PROMPTS_DIR) / f"{name}.json"
    data = path.read_bytes()
    spec = json.loads(data)
    audiences = tuple(a["text"] for a in spec["audiences"])
    return Catalogue(
        name=name,
        genres=tuple(spec["genres"]),
        audiences=audiences,
        sceptical=frozenset(i for i, a in enumerate(spec["audiences"]) if a.get("sceptical")),
        sha256=hashlib.sha256(data).hexdigest(),
    )


# ------------------------------------------------------------------------------- stage (b): checks

#: Every score a rewrite gets; rules may only name these.
SYNTH_SCORES: tuple[str, ...] = (
    "preamble",
    "looped",
    "words",
    "truncated",
    "refusal",
    "echo",
    "length_ratio",
    "keyword_coverage",
    "source_copy",
    "judge",
)

#: (check, rule) in the order they are decided; the first failing one is the reason. Thresholds are
#: ours: the paper drops "extremely low" keyword coverage without a number and keeps judge scores >= 3
#: (92% of its tool model's outputs). Tune them on the bench's score distributions. ``truncated`` has
#: no rule: a rewrite that reaches its budget is cut back to its last complete sentence
#: (``trim_to_sentence``), so reaching the budget is recorded, never a failure by itself.
DEFAULT_RULES: tuple[tuple[str, str], ...] = (
    ("empty", "words >= 1"),
    ("refusal", "refusal == 0"),
    ("echo", "echo < 8"),
    ("length_ratio", "length_ratio >= 0.2"),
    ("length_ratio", "length_ratio <= 3"),
    ("keyword_coverage", "keyword_coverage >= 0.3"),
    ("source_copy", "source_copy <= 0.8"),
    ("judge", "judge >= 3"),
)


def parse_rules(spec: Iterable[tuple[str, str]] | Mapping[str, str | Sequence[str]]) -> tuple[Rule, ...]:
    """Rules as ``(check, "score <op> number")`` pairs or ``{check: rule or [rules]}``; errors name the check."""
    items: list[tuple[str, str]] = []
    if isinstance(spec, Mapping):
        for name, value in spec.items():
            items.extend((name, v) for v in ([value] if isinstance(value, str) else value))
    else:
        items = list(spec)
    return tuple(parse_rule(STAGE, name, expr, SYNTH_SCORES) for name, expr in items)


_INTERJECTION = re.compile(r"^(?:sure|certainly|of course|okay|absolutely)\W*$", re.IGNORECASE)
_TASK_TALK = re.compile(r"\b(?:rewrit\w*|revised version|new version|adapted version)\b", re.IGNORECASE)
_LEAD_IN = re.compile(r"^(?:sure|certainly|of course|okay|absolutely|here(?:'s| is| are)|below is)\b", re.IGNORECASE)


def strip_preamble(text: str) -> tuple[str, bool]:
    """Remove one leading line of talk about the task ("Sure!", "Here is the rewritten article:",
    "Here is a new version of the document ..."), which instruction-tuned models add despite the
    prompt. A correction, like C4's line edits, rather than a drop: the rewrite under it may be good.
    Only a short first line that is an interjection, or that opens with a lead-in and either talks about
    rewriting or ends with a colon, is removed, so a letter that starts "Here is what we found" stays."""
    body = text.lstrip()
    first, _, rest = body.partition("\n")
    line = first.strip().replace("\u2019", "'")
    if len(line.split()) > 30:
        return text, False
    if _INTERJECTION.match(line) or (_LEAD_IN.match(line) and (_TASK_TALK.search(line) or line.endswith(":"))):
        return rest.lstrip("\n"), True
    return text, False


def truncated(finish_reason: str | None) -> float:
    """1 when generation stopped at its token budget (the text was then cut to its last sentence)."""
    return 1.0 if finish_reason == "length" else 0.0


_SENTENCE_END = re.compile(r"[.!?\u2026\u3002\uff01\uff1f][\"'\u201d\u2019)\]]*(?=\s|$)")


def trim_to_sentence(text: str) -> str:
    """``text`` up to the end of its last complete sentence; "" when it has none. Applied to a rewrite
    that reached its token budget: its last sentence is cut off mid-way, the ones before it are whole,
    so the rewrite stops at the budget instead of failing as truncated."""
    ends = list(_SENTENCE_END.finditer(text))
    return text[: ends[-1].end()].rstrip() if ends else ""


def rewrite_budget(source_tokens: int, ratio: float, cap: int, floor: int = 64) -> int:
    """Tokens a rewrite may take: ``ratio`` × the source's tokens, at least ``floor`` (a short source
    still gets room for a heading and a few sentences), at most ``cap`` (the step's ``max_tokens``).
    Proportional, because a fixed budget is either far too long for a short source (a small model
    rambles on until it hits it) or too short for a long one."""
    return max(1, min(cap, max(floor, math.ceil(ratio * source_tokens))))


def count_tokens(backend: Backend, text: str) -> int:
    """The backend's own token count (``backend.count_tokens``), or an overestimate of one token per
    three characters for a backend that has no tokenizer here (a server): English BPE averages about
    four characters per token, so the budget errs on the generous side."""
    counter = getattr(backend, "count_tokens", None)
    if callable(counter):
        return int(counter(text))
    return math.ceil(len(text) / 3)


_SENTENCE = re.compile(r"[^\n.!?\u2026\u3002\uff01\uff1f]*(?:[.!?\u2026\u3002\uff01\uff1f]+[\"'\u201d\u2019)\]]*|\n|$)")


def cut_at_repetition(text: str, min_words: int = 3, n: int = 5, share: float = 0.5) -> tuple[str, bool]:
    """``text`` up to the first sentence (or line) that repeats what came before, and whether it was cut.
    A sentence repeats when it is an earlier one word for word (case and punctuation aside), or when at
    least ``share`` of its word ``n``-grams already occurred (a loop with small variations: "The Earth's
    rotation has been adjusted to match the Earth's rotation."). Sentences of fewer than ``min_words``
    words, like a repeated "Yes.", do not count. Small models fall into such loops; what they wrote
    before the loop may be a good rewrite, the loop never is. A correction like the cut at the budget:
    the checks then judge what is left."""
    seen: set[tuple[str, ...]] = set()
    grams: set[tuple[str, ...]] = set()
    for match in _SENTENCE.finditer(text):
        key = tuple(words(match.group()))
        if len(key) < min_words:
            continue
        own = [key[i : i + n] for i in range(len(key) - n + 1)]
        if key in seen or (own and sum(g in grams for g in own) >= share * len(own)):
            return text[: match.start()].rstrip(), True
        seen.add(key)
        grams.update(own)
    return text, False


def final_text(generation: Generation) -> tuple[str, bool, bool]:
    """A rewrite's text as it is kept: one leading line of talk about the task removed
    (``strip_preamble``), cut back to its last complete sentence when the budget stopped it, and cut
    where it starts to repeat itself (``cut_at_repetition``). Returns (text, preamble removed, loop cut)."""
    text, stripped = strip_preamble(generation.text or "")
    if generation.finish_reason == "length":
        text = trim_to_sentence(text)
    text, looped = cut_at_repetition(text)
    return text, stripped, looped


_REFUSAL_START = re.compile(
    r"^[\s*#>_-]*(?:sure[,.!]?\s*)?(?:(?:i'?m|i am) sorry|sorry,? (?:but )?i\b|i apologi[sz]e|unfortunately,? i\b|"
    r"i (?:cannot|can't|can not|won't|will not)\b|(?:i'?m|i am) (?:unable|not able) to\b)",
    re.IGNORECASE,
)
_REFUSAL_ANYWHERE = re.compile(r"\bas an ai(?: language)? model\b|\bas a language model\b", re.IGNORECASE)


def refusal(text: str) -> float:
    """1 for refusal boilerplate: an apology or "I can't" opening, or "as an AI model" anywhere. Only
    the opening is checked for apologies, since a rewrite (a dialogue, a letter) may contain one."""
    head = text.strip()[:300].replace("\u2019", "'")
    return 1.0 if _REFUSAL_START.search(head) or _REFUSAL_ANYWHERE.search(text) else 0.0


def echo(text: str, template: PromptTemplate, pair: Pair | None = None) -> float:
    """The longest run of consecutive words the output shares with what the prompt said around the
    document: the template's own text and, when given, the genre and audience descriptions. 8 or more
    is a parroted prompt ("Genre: A short explanatory article ... Audience: Adults aged ..." at the top
    of a rewrite, seen from SmolLM2), far beyond chance for fixed sentences like "Keep all of the
    document's information". The document itself is not a reference: copying it is ``source_copy``."""
    out = words(text)
    if not out:
        return 0.0
    references = template.fixed_parts() + ([pair.genre, pair.audience] if pair else [])
    best = 0
    for part in references:
        ref = words(part)
        if ref:
            match = SequenceMatcher(None, ref, out, autojunk=False).find_longest_match(0, len(ref), 0, len(out))
            best = max(best, match.size)
    return float(best)


def length_ratio(source: str, rewrite: str) -> float:
    """Rewrite words / source words, >= 0; NaN for a source without words (the rule abstains). The
    paper's 5 rewrites per document expand tokens 3.9x, so ~0.8 per rewrite on average; a summary-sized
    or padded-out rewrite is outside the bounds."""
    n = len(words(source))
    return len(words(rewrite)) / n if n else math.nan


def top_keywords(text: str, k: int = 20) -> list[str]:
    """The source's ``k`` most frequent content words (stemmed, 3+ letters, no stop words), ties by
    first occurrence so the list is deterministic."""
    stems = _content_stems(text)
    first = {s: i for i, s in reversed(list(enumerate(stems)))}
    counts = Counter(stems)
    return sorted(counts, key=lambda s: (-counts[s], first[s]))[:k]


def keyword_coverage(source: str, rewrite: str, k: int = 20) -> float:
    """Share of the source's top keywords present in the rewrite, in [0, 1]: the paper's fidelity filter
    (it drops "extremely low keyword coverage"). NaN for a source without keywords (the rule abstains)."""
    keywords = top_keywords(source, k)
    if not keywords:
        return math.nan
    present = set(_content_stems(rewrite))
    return sum(1 for w in keywords if w in present) / len(keywords)


def source_copy(source: str, rewrite: str, n: int = 8) -> float:
    """Share of the rewrite's word n-grams copied verbatim from the source, in [0, 1] (0.0 for a rewrite
    shorter than ``n`` words): near 1 means the "rewrite" is the document again, which adds no diversity
    (the other half of limited consistency)."""
    rw = words(rewrite)
    if len(rw) < n:
        return 0.0
    src = words(source)
    source_grams = {tuple(src[i : i + n]) for i in range(len(src) - n + 1)}
    grams = [tuple(rw[i : i + n]) for i in range(len(rw) - n + 1)]
    return sum(1 for g in grams if g in source_grams) / len(grams)


_JUDGE_SCORE = re.compile(r"score\W{0,3}([1-5])\b", re.IGNORECASE)
_JUDGE_DIGIT = re.compile(r"(?<![\d.])([1-5])(?![\d.])")


def parse_judge(text: str) -> float:
    """The 1–5 judge score ("Score: 4", or the first lone digit 1–5); NaN when there is none."""
    match = _JUDGE_SCORE.search(text) or _JUDGE_DIGIT.search(text)
    return float(match.group(1)) if match else math.nan


def rewrite_scores(
    source: str, generation: Generation, template: PromptTemplate, keywords: int = 20, pair: Pair | None = None
) -> dict[str, float]:
    """Every check's score for one rewrite of ``source`` (the part the LM saw), on ``final_text``
    (``preamble`` is 1 when a line was removed, ``truncated`` when the budget cut it, ``looped`` when a
    repetition was cut off). ``judge`` is NaN
    here: it needs another LM call (``judge_rewrites``)."""
    text, stripped, looped = final_text(generation)
    return {
        "preamble": float(stripped),
        "looped": float(looped),
        "words": float(len(words(text))),
        "truncated": truncated(generation.finish_reason),
        "refusal": refusal(text),
        "echo": echo(text, template, pair),
        "length_ratio": length_ratio(source, text),
        "keyword_coverage": keyword_coverage(source, text, keywords),
        "source_copy": source_copy(source, text),
        "judge": math.nan,
    }


# ----------------------------------------------------------------------------------------- the method


#: Characters a genre or an audience may take in a structured reply: a short sentence to about three.
PAIR_FIELD_CHARS = (20, 300)
#: Tokens of JSON around one pair (brackets, keys, quotes) and a floor of characters per token, to size
#: the fields so that n pairs always fit the step's token budget (a cut-off list does not parse).
_PAIR_OVERHEAD_TOKENS, _CHARS_PER_TOKEN = 16, 3


def pairs_schema(n: int, max_tokens: int | None = None) -> str:
    """The JSON schema of stage (a)'s reply, as canonical JSON text: exactly ``n`` objects with a
    ``genre`` and an ``audience`` string each, nothing else, each field short enough that the whole list
    fits ``max_tokens``. A backend that enforces it (llguidance in-process, a server's
    ``response_format``) returns a list that always parses."""
    longest = PAIR_FIELD_CHARS[1]
    if max_tokens is not None:
        fits = (max_tokens - _PAIR_OVERHEAD_TOKENS * n) * _CHARS_PER_TOKEN // (2 * n)
        longest = max(PAIR_FIELD_CHARS[0], min(longest, fits))
    text = {"type": "string", "minLength": PAIR_FIELD_CHARS[0], "maxLength": longest}
    return json.dumps({"type": "array", "minItems": n, "maxItems": n, "items": {
        "type": "object", "properties": {"genre": text, "audience": text}, "required": ["genre", "audience"],
        "additionalProperties": False}}, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class MagaConfig:
    """Everything that shapes the output; all of it lands in provenance or in the recipe.

    Sampling defaults follow common practice for rewriting (temperature 0.7, top-p 0.9, a fixed seed);
    greedy decoding makes small models loop. ``max_source_chars`` bounds the prompt: with ~4 characters
    per token, 8,000 characters plus a 2,048-token rewrite fit an 8k context.
    """

    n_pairs: int = 5
    min_pairs: int = 1
    pairs_prompt: str = "pairs_v2"
    reask_prompt: str = "pairs_reask_v1"
    rewrite_prompt: str = "rewrite_v2"
    judge_prompt: str = "judge_v1"
    prompts_dir: str | None = None
    judge: bool = False
    judge_all: bool = False  # annotate-only runs: judge rewrites that already failed a check, too
    pairs_params: SamplingParams = SamplingParams(max_tokens=1024, temperature=0.7, top_p=0.9, seed=0)
    rewrite_params: SamplingParams = SamplingParams(max_tokens=2048, temperature=0.7, top_p=0.9, seed=0)
    judge_params: SamplingParams = SamplingParams(max_tokens=8, temperature=0.0, seed=0)
    max_source_chars: int = 8000
    dedup_threshold: float = 0.6
    min_pair_words: int = 4
    keywords: int = 20
    rules: tuple[Rule, ...] = field(default_factory=lambda: parse_rules(DEFAULT_RULES))
    #: stage (a) under ``pairs_schema(n_pairs)`` (structured generation); False: asked in words only
    structured_pairs: bool = True
    #: the pair catalogue that fills the places the model's proposals leave (None: those documents get
    #: fewer pairs, or ``synth:json`` / ``synth:pairs``)
    catalogue: str | None = "catalogue_v1"
    #: rounds of fresh catalogue pairs for a source whose rewrites all failed a check (0: none). A
    #: capable model rarely needs one; a small one fails most rewrites, and one more round for the
    #: sources left with nothing costs less than losing them.
    retry_rounds: int = 1
    #: a rewrite's token budget, × the source's tokens (``rewrite_budget``), within
    #: ``rewrite_params.max_tokens``; None: ``max_tokens`` for every rewrite
    rewrite_budget: float | None = 1.5

    def __post_init__(self) -> None:
        if self.structured_pairs and self.pairs_params.json_schema is None:
            schema = pairs_schema(self.n_pairs, self.pairs_params.max_tokens)
            object.__setattr__(self, "pairs_params", replace(self.pairs_params, json_schema=schema))

    def prompt(self, name: str) -> PromptTemplate:
        return load_prompt(name, self.prompts_dir)

    def pair_catalogue(self) -> Catalogue | None:
        return load_catalogue(self.catalogue, self.prompts_dir) if self.catalogue else None


@dataclass
class PairsOutcome:
    """Stage (a) for one source. ``repair``: "none" (valid JSON as generated), "local" (after
    ``repair_json``), "reask" (after the one re-ask), "failed". ``reason`` is the drop reason
    (``synth:json``, ``synth:pairs``), ``error`` a backend failure; both None when pairs were found."""

    source_id: str
    pairs: list[Pair]
    repair: str
    counts: dict[str, float]
    reason: str | None = None
    error: str | None = None
    raw: str = ""
    generated_tokens: int = 0  # completion tokens of the ask and the re-ask, as the backend reported them


@dataclass
class Rewrite:
    """One synthetic document. ``reason`` None means keep; ``error`` means the backend failed for it."""

    id: str
    source_id: str
    pair_index: int
    pair: Pair
    text: str | None
    scores: dict[str, float]
    reason: str | None
    error: str | None
    provenance: dict[str, Any]
    finish_reason: str | None = None
    generated_tokens: int = 0  # completion tokens of the rewrite (and of its judge call), as reported
    max_tokens: int | None = None  # the rewrite's token budget

    @property
    def outcome(self) -> str:
        """``keep``, the drop reason ``synth:<check>``, or ``synth:backend`` for an error."""
        if self.error is not None:
            return f"{STAGE}:backend"
        return self.reason or "keep"


@dataclass
class SourceResult:
    source_id: str
    pairs: PairsOutcome
    rewrites: list[Rewrite]
    source_text: str = ""  # the part the LM saw
    source_truncated: bool = False


def _takes_budgets(backend: Backend) -> bool:
    """Whether ``backend.generate`` takes per-prompt ``max_tokens`` (ours do; a third-party one may not)."""
    try:
        return "max_tokens" in inspect.signature(backend.generate).parameters
    except (TypeError, ValueError):
        return False


def generate(
    backend: Backend, prompts: list[str], params: SamplingParams, max_tokens: Sequence[int] | None = None
) -> list[Generation]:
    """``backend.generate`` held to its contract: one Generation per prompt, no exception. Our backends
    keep it; a third-party one that raises or miscounts still only produces error results.
    ``max_tokens``: a budget per prompt (each within ``params.max_tokens``)."""
    if not prompts:
        return []
    try:
        if max_tokens is None:
            out = list(backend.generate(prompts, params))
        elif _takes_budgets(backend):
            out = list(backend.generate(prompts, params, max_tokens=list(max_tokens)))
        else:  # a backend written before per-prompt budgets: one call per distinct budget
            out = [Generation(error="not generated")] * len(prompts)
            for budget in sorted(set(max_tokens)):
                idx = [i for i, m in enumerate(max_tokens) if m == budget]
                got = list(backend.generate([prompts[i] for i in idx], replace(params, max_tokens=budget)))
                if len(got) != len(idx):
                    out = got  # miscounted: reported below
                    break
                for i, g in zip(idx, got):
                    out[i] = g
    except Exception as exc:  # noqa: BLE001 - fail per record, not per job
        return [Generation(error=f"backend raised {type(exc).__name__}: {exc}")] * len(prompts)
    if len(out) != len(prompts):
        return [Generation(error=f"backend returned {len(out)} results for {len(prompts)} prompts")] * len(prompts)
    return out


def propose_pairs(
    docs: Sequence[Mapping[str, Any]], backend: Backend, config: MagaConfig = MagaConfig()
) -> list[PairsOutcome]:
    """Stage (a) for a batch: one generate call for all documents, one re-ask call for those whose
    answer is not parseable even after local repair. Documents are ``{"id", "text"}`` mappings; one
    without words is dropped as ``synth:empty`` without asking the LM."""
    template, reask = config.prompt(config.pairs_prompt), config.prompt(config.reask_prompt)
    sources = [prepare_source(doc.get("text") or "", config.max_source_chars)[0] for doc in docs]
    asked = [i for i, source in enumerate(sources) if words(source)]
    prompts = {i: template.render(n=config.n_pairs, document=sources[i]) for i in asked}
    generations = dict(zip(asked, generate(backend, [prompts[i] for i in asked], config.pairs_params), strict=True))
    spent = {i: g.completion_tokens or 0 for i, g in generations.items()}
    parsed = {i: parse_pairs(g.text or "") if g.ok else None for i, g in generations.items()}
    retry = [i for i in asked if generations[i].ok and parsed[i] is None]
    if retry:
        again = [prompts[i] + reask.render(n=config.n_pairs) for i in retry]
        for i, g in zip(retry, generate(backend, again, config.pairs_params), strict=True):
            generations[i] = g
            spent[i] += g.completion_tokens or 0
            result = parse_pairs(g.text or "") if g.ok else None
            parsed[i] = (result[0], "reask") if result else None
    examples = template.example_pairs()
    outcomes = []
    for i, doc in enumerate(docs):
        outcomes.append(_pairs_outcome(doc, generations.get(i), parsed.get(i), config, examples))
        outcomes[-1].generated_tokens = spent.get(i, 0)
    return outcomes


def _pairs_outcome(
    doc: Mapping[str, Any],
    generation: Generation | None,
    parsed: tuple[list[Pair], str] | None,
    config: MagaConfig,
    examples: Sequence[Pair] = (),
) -> PairsOutcome:
    """Stage (a)'s outcome for one document from its (last) generation and parse."""
    source_id = str(doc.get("id"))
    if generation is None:
        return PairsOutcome(source_id, [], "failed", {}, reason=f"{STAGE}:empty")
    if not generation.ok:
        return PairsOutcome(source_id, [], "failed", {}, error=generation.error)
    catalogue = config.pair_catalogue()
    if parsed is None and catalogue is None:
        return PairsOutcome(source_id, [], "failed", {}, reason=f"{STAGE}:json", raw=generation.text or "")
    pairs, how = parsed if parsed is not None else ([], "failed")
    kept, counts = select_pairs(pairs, config.n_pairs, config.dedup_threshold, config.min_pair_words, examples)
    filled: list[Pair] = []
    if catalogue is not None and len(kept) < config.n_pairs:
        filled = catalogue.pairs_for(source_id, config.n_pairs - len(kept), kept, config.pairs_params.seed or 0)
    counts["catalogue"] = float(len(filled))
    kept = kept + filled
    reason = f"{STAGE}:pairs" if len(kept) < config.min_pairs else None
    return PairsOutcome(source_id, kept, how, counts, reason=reason, raw=generation.text or "")


def synthetic_id(source_id: str, pair_index: int, pair: Pair, rewrite_sha256: str, model: str) -> str:
    """Deterministic id of a synthetic document: xxh3-128 of what made it (source, pair, prompt, model),
    never of arrival order."""
    key = "\x1f".join([source_id, str(pair_index), pair.genre, pair.audience, rewrite_sha256, model])
    return xxhash.xxh3_128_hexdigest(key.encode("utf-8", "surrogatepass"))


def provenance(
    *,
    source_id: str,
    pair: Pair,
    pair_index: int,
    prompts: Mapping[str, PromptTemplate | None],
    backend: str,
    model: str,
    sampling: Mapping[str, SamplingParams | None],
    scores: Mapping[str, float],
    pairs_repair: str,
    source_chars: int,
    source_truncated: bool,
    catalogue: Catalogue | None = None,
) -> dict[str, Any]:
    """The provenance record of one synthetic document: where it came from and how it was made.

    ``prompts`` and ``sampling`` are keyed by step (``pairs``, ``reask``, ``rewrite``, ``judge``; a step
    that did not run is None), so the record has the same keys for every document (one Arrow struct).
    NaN scores (a check that abstained, the judge when off) become None. ``catalogue``: the catalogue
    the pair was taken from (None for a pair the model proposed).
    """
    steps = ("pairs", "reask", "rewrite", "judge")
    return {
        "method": "maga",
        "source_id": source_id,
        "pair_index": pair_index,
        "genre": pair.genre,
        "audience": pair.audience,
        "pair_origin": pair.origin,
        "catalogue_sha256": catalogue.sha256 if catalogue is not None else None,
        "prompt_names": {s: (prompts[s].name if prompts.get(s) else None) for s in steps},
        "prompt_sha256": {s: (prompts[s].sha256 if prompts.get(s) else None) for s in steps},
        "backend": backend,
        "model": model,
        "sampling": {s: (sampling[s].as_dict() if sampling.get(s) else None) for s in steps},
        "pairs_repair": pairs_repair,
        "source_chars": source_chars,
        "source_truncated": source_truncated,
        "scores": {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in scores.items()},
    }


def judge_rewrites(items: Sequence[tuple[str, Rewrite]], backend: Backend, config: MagaConfig = MagaConfig()) -> None:
    """Optional LLM judge through the same backend: sets ``scores["judge"]`` (1–5, NaN when the answer
    has no score or the call failed, so the judge rule abstains) on each (source text, rewrite)."""
    if not items:
        return
    template = config.prompt(config.judge_prompt)
    prompts = [
        template.render(genre=r.pair.genre, audience=r.pair.audience, document=src, rewrite=r.text or "")
        for src, r in items
    ]
    for (_, rewrite), generation in zip(items, generate(backend, prompts, config.judge_params), strict=True):
        rewrite.scores["judge"] = parse_judge(generation.text or "") if generation.ok else math.nan
        rewrite.generated_tokens += generation.completion_tokens or 0


def reformulate(
    docs: Sequence[Mapping[str, Any]], backend: Backend, config: MagaConfig = MagaConfig()
) -> list[SourceResult]:
    """Both MAGA stages and the checks for a batch of documents; one result per document, in order.

    Each LM stage is one ``backend.generate`` call over the whole batch, so the backend can batch
    in-process or keep ``concurrency`` requests in flight. Never raises for a backend failure: it
    becomes the ``error`` of the affected source (stage a) or rewrite (stage b).
    """
    return rewrite_and_check(docs, propose_pairs(docs, backend, config), backend, config)


def _rewrite_round(jobs: Sequence[tuple[SourceResult, int, Pair]], backend: Backend, config: MagaConfig) -> None:
    """One rewrite per job, scored, decided and (with ``judge``) judged; appended to its source's result."""
    rewrite_t = config.prompt(config.rewrite_prompt)
    prompts = [rewrite_t.render(genre=p.genre, audience=p.audience, document=r.source_text) for r, _, p in jobs]
    cap = config.rewrite_params.max_tokens
    budgets = None
    if config.rewrite_budget is not None:
        tokens = {id(r): count_tokens(backend, r.source_text) for r, _, _ in jobs}
        budgets = [rewrite_budget(tokens[id(r)], config.rewrite_budget, cap) for r, _, _ in jobs]
    generations = generate(backend, prompts, config.rewrite_params, budgets)
    made: list[tuple[SourceResult, Rewrite]] = []
    for j, ((result, k, pair), generation) in enumerate(zip(jobs, generations, strict=True)):
        scores = (
            rewrite_scores(result.source_text, generation, rewrite_t, config.keywords, pair) if generation.ok else {}
        )
        rewrite = Rewrite(
            id=synthetic_id(result.source_id, k, pair, rewrite_t.sha256, backend.model),
            source_id=result.source_id,
            pair_index=k,
            pair=pair,
            text=final_text(generation)[0] if generation.text is not None else None,
            scores=scores,
            reason=decide(scores, config.rules) if generation.ok else None,
            error=generation.error,
            provenance={},
            finish_reason=generation.finish_reason,
            generated_tokens=generation.completion_tokens or 0,
            max_tokens=budgets[j] if budgets is not None else cap,
        )
        result.rewrites.append(rewrite)
        made.append((result, rewrite))
    if config.judge:
        to_judge = [(result.source_text, rw) for result, rw in made
                    if rw.error is None and (rw.reason is None or config.judge_all)]
        judge_rewrites(to_judge, backend, config)
        for _, rw in to_judge:
            rw.reason = decide(rw.scores, config.rules)


def _retry_jobs(
    results: Sequence[SourceResult], catalogue: Catalogue, config: MagaConfig, round_: int
) -> list[tuple[SourceResult, int, Pair]]:
    """Another round for each source whose rewrites all failed a check (a backend error is not retried:
    it is reported): ``n_pairs`` catalogue pairs it has not had, in a new order (``seed`` + round). The new
    pairs join the source's pair list, so pairs and rewrites still match one to one."""
    jobs = []
    seed = (config.pairs_params.seed or 0) + round_
    for result in results:
        if not result.rewrites or any(rw.error is not None or rw.reason is None for rw in result.rewrites):
            continue
        fresh = catalogue.pairs_for(result.source_id, config.n_pairs, result.pairs.pairs, seed)
        start = len(result.pairs.pairs)
        result.pairs.pairs.extend(fresh)
        result.pairs.counts["catalogue"] = result.pairs.counts.get("catalogue", 0.0) + len(fresh)
        result.pairs.counts["retried"] = result.pairs.counts.get("retried", 0.0) + len(fresh)
        jobs.extend((result, start + i, pair) for i, pair in enumerate(fresh))
    return jobs


def rewrite_and_check(
    docs: Sequence[Mapping[str, Any]],
    pairs_outcomes: Sequence[PairsOutcome],
    backend: Backend,
    config: MagaConfig = MagaConfig(),
) -> list[SourceResult]:
    """Stage (b), the checks, the optional judge and provenance, given stage (a)'s outcomes (one per
    document, in order). Separate from ``reformulate`` so the two stages can run in separate steps."""
    rewrite_t = config.prompt(config.rewrite_prompt)
    prompts_used = {
        "pairs": config.prompt(config.pairs_prompt),
        "rewrite": rewrite_t,
        "judge": config.prompt(config.judge_prompt) if config.judge else None,
    }
    results: list[SourceResult] = []
    jobs: list[tuple[SourceResult, int, Pair]] = []
    for doc, outcome in zip(docs, pairs_outcomes, strict=True):
        source, cut = prepare_source(doc.get("text") or "", config.max_source_chars)
        result = SourceResult(outcome.source_id, outcome, [], source, cut)
        results.append(result)
        if outcome.reason is None and outcome.error is None:
            jobs.extend((result, k, pair) for k, pair in enumerate(outcome.pairs))
    catalogue = config.pair_catalogue()
    for round_ in range(1 + config.retry_rounds):
        _rewrite_round(jobs, backend, config)
        if catalogue is None or round_ == config.retry_rounds:
            break
        jobs = _retry_jobs(results, catalogue, config, round_ + 1)
        if not jobs:
            break
    for result in results:
        reask = config.prompt(config.reask_prompt) if result.pairs.repair == "reask" else None
        for rw in result.rewrites:
            rw.provenance = provenance(
                source_id=result.source_id,
                pair=rw.pair,
                pair_index=rw.pair_index,
                prompts={**prompts_used, "reask": reask},
                backend=backend.name,
                model=backend.model,
                sampling={
                    "pairs": config.pairs_params,
                    "reask": config.pairs_params if reask else None,
                    "rewrite": replace(config.rewrite_params, max_tokens=rw.max_tokens or config.rewrite_params.max_tokens),
                    "judge": config.judge_params if config.judge else None,
                },
                scores=rw.scores,
                pairs_repair=result.pairs.repair,
                source_chars=len(result.source_text),
                source_truncated=result.source_truncated,
                catalogue=catalogue if rw.pair.origin == "catalogue" else None,
            )
    return results

