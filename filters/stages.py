"""The annotate → decide sequence for a batch of documents, as plain Python.

A ``Stage`` scores documents (possibly correcting their text, as C4 and RefinedWeb do line by line) and
its rules decide. ``run_stages`` applies the stages in recipe order, stage by stage over the batch (so a
model stage predicts a whole batch in one call), and returns each document's first drop reason. In
filter mode a dropped document leaves the batch (no point scoring it further); in annotate-only mode
every stage runs on every document, so every row carries every score and the decision it *would* get.

The scorer factories below turn a stage's recipe section into its ``Scoring`` (loading its model);
``filters/registry.py`` declares which factory, scores and rules make each stage. A ``Scoring`` is shared
by every thread of a worker process (``filters.transforms.CurateFn``), so it must be safe to call from
several threads at once: fastText and KenLM queries only read their model; the neural LM takes a lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

from filters import heuristics
from filters.decide import Rule, decide

TextScores = Callable[[str], dict[str, float]]
BatchScorer = Callable[[list[dict]], list[dict[str, float]]]


@dataclass(frozen=True)
class Scoring:
    """How a stage scores a batch: ``score`` returns one dict of scores per document (and may replace a
    document's text or set its language); ``check`` is a non-numeric rule (the language label)."""

    score: BatchScorer
    check: Callable[[dict], str | None] | None = None


@dataclass(frozen=True)
class Stage:
    """A stage ready to run: its name (``scores.<name>``), how it scores, the rules that decide."""

    name: str
    scoring: Scoring
    rules: tuple[Rule, ...] = ()

    def score(self, docs: list[dict]) -> list[dict[str, float]]:
        return self.scoring.score(docs)

    def decide(self, scores: dict[str, float], doc: dict) -> str | None:
        if self.scoring.check is not None:
            reason = self.scoring.check(doc)
            if reason:
                return reason
        return decide(scores, self.rules)


def bind(spec, cfg) -> Stage:
    """The runnable stage a ``StageSpec`` and its recipe section make (models are loaded here)."""
    return Stage(spec.name, spec.scorer(cfg), spec.rules(cfg) if spec.rules else ())


def run_stages(docs: list[dict], stages: list[Stage], annotate_only: bool) -> list[str | None]:
    """Annotate ``docs`` in place; return, per document, None to keep or its first drop reason.

    Every stage's scores start as None (a null struct in the output), so a document that stops early
    still says which stages did not score it."""
    reasons: list[str | None] = [None] * len(docs)
    for doc in docs:
        scores = dict(doc.get("scores") or {})
        for stage in stages:
            scores.setdefault(stage.name, None)
        doc["scores"] = scores
    for stage in stages:
        active = [i for i in range(len(docs)) if annotate_only or reasons[i] is None]
        if not active:
            break
        for i, scores in zip(active, stage.score([docs[i] for i in active])):
            docs[i]["scores"][stage.name] = scores
            reason = stage.decide(scores, docs[i]) if scores is not None else None  # unmeasured: abstain
            if reason and reasons[i] is None:
                reasons[i] = reason
    return reasons


# ------------------------------------------------------------------------------------- scorer factories


def batched(annotate: Callable[[dict], dict[str, float]]) -> BatchScorer:
    """A scorer of one document as a scorer of a batch."""
    return lambda docs: [annotate(doc) for doc in docs]


def text_scores(fn: TextScores) -> Callable[[Any], Scoring]:
    """A heuristic that only reads the text: ``fn(text) -> scores``."""

    def scorer(cfg) -> Scoring:
        return Scoring(batched(lambda doc: fn(doc["text"] or "")))

    return scorer


def correcting(fn: Callable[[str], tuple[str, dict[str, float]]]) -> Callable[[Any], Scoring]:
    """A line-level correction that also scores: ``fn(text) -> (corrected text, scores)``."""

    def scorer(cfg) -> Scoring:
        def annotate(doc: dict) -> dict[str, float]:
            text, scores = fn(doc["text"] or "")
            doc["text"] = text
            return scores

        return Scoring(batched(annotate))

    return scorer


def c4_scorer(cfg) -> Scoring:
    """C4's line edits and page scores, plus the bad-words rule when a word list is given."""
    bad_words = read_word_list(cfg.bad_words_file) if cfg.bad_words_file else frozenset()
    options = dict(cfg.options)

    def annotate(doc: dict) -> dict[str, float]:
        original = doc["text"] or ""
        text, scores = heuristics.c4_lines(original, **options)
        scores["bad_words"] = heuristics.c4_bad_words(original, bad_words) if bad_words else 0.0
        doc["text"] = text
        return scores

    return Scoring(batched(annotate))


def url_scorer(cfg) -> Scoring:
    """The URL filter's scores of each document's ``url`` (None without one): the lists are loaded here,
    once per worker, and a batch is looked up at once (``filters.url_filter``)."""
    from filters.url_filter import UrlFilter, load

    lists = load(cfg.blocklists, cfg.categories, cfg.banned_words, cfg.soft_banned_words, cfg.banned_subwords,
                 cfg.words, cfg.exclude)
    url_filter = UrlFilter(lists)
    return Scoring(lambda docs: url_filter.score([d.get("url") for d in docs]))


def language_scorer(cfg) -> Scoring:
    """fastText lid.176: the top label and its probability; labels outside ``keep`` are dropped."""
    from filters.langid import identify, load_model

    model = load_model()
    keep = frozenset(cfg.keep)

    def annotate(doc: dict) -> dict[str, float]:
        label, score = identify(model, doc["text"] or "")
        doc["language"], doc["language_score"] = label, score
        return {"score": score}

    def check(doc: dict) -> str | None:
        return "language:not_kept" if keep and doc["language"] not in keep else None

    return Scoring(batched(annotate), check)


def decontamination_scorer(cfg) -> Scoring:
    """Distinct n-grams a document shares with the evaluation sets and the set it shares most with (its
    index in ``files``); the sets are indexed here, once per worker, and a batch is hashed at once."""
    from filters.decontamination import Index, is_record_file, load_eval_set

    sets = []
    for item in cfg.eval_files():
        fields = item.fields if item.fields is not None else (cfg.fields if is_record_file(item.path) else None)
        sets.append(load_eval_set(item.path, cfg.ngram, fields, item.name))
    index = Index(sets, cfg.ngram)
    names = [s.name for s in sets]

    def score(docs: list[dict]) -> list[dict[str, float | None]]:
        return [{"ngrams": float(n), "set": None if at is None else float(at)}
                for n, at in index.match([d["text"] or "" for d in docs])]

    def check(doc: dict) -> str | None:
        found = doc["scores"]["decontamination"]
        if cfg.action == "drop" and found["ngrams"] > 0:
            return f"decontamination:{names[int(found['set'])]}"
        return None

    return Scoring(score, check)


def quality_scorer(cfg) -> Scoring:
    """P(high quality) for the whole batch in one call: fastText, or the neural head over a small LM's states."""
    if cfg.backend == "neural":
        from filters.neural_quality import load_model as load_neural
        from filters.neural_quality import predict_batch as predict_neural

        neural = load_neural(cfg.model, cfg.encoder)
        lock = threading.Lock()  # as for the neural perplexity: one tokenizer and forward pass at a time

        def score(docs: list[dict]) -> list[dict[str, float]]:
            with lock:
                return [{"score": p} for p in predict_neural(neural, [d["text"] or "" for d in docs])]

        return Scoring(score)
    from filters.quality import load_model, predict_batch

    model = load_model(cfg.model)
    return Scoring(lambda docs: [{"score": p} for p in predict_batch(model, [d["text"] or "" for d in docs])])


def perplexity_scorer(cfg) -> Scoring:
    """Document perplexity under the reference model: KenLM over SentencePiece pieces (CCNet) or a small causal LM
    (exp of the mean token NLL, batched). Corpus buckets and bands are decided later (PerplexitySelect)."""
    if cfg.backend == "neural":
        from filters.neural_perplexity import doc_perplexities, load_model

        model = load_model(cfg.model)
        # Curate's threads share this model (one per worker process): a Hugging Face fast tokenizer is not
        # safe to call from two threads at once, and the forward pass already uses every core (or the GPU).
        lock = threading.Lock()

        def score(docs: list[dict]) -> list[dict[str, float]]:
            with lock:
                return [{"perplexity": p} for p in doc_perplexities(model, [d["text"] or "" for d in docs])]

        return Scoring(score)
    from filters.perplexity import doc_perplexity, load_model

    model = load_model(cfg.model, cfg.sentencepiece)
    return Scoring(lambda docs: [{"perplexity": doc_perplexity(model, d["text"] or "")} for d in docs])


def pii_scorer(cfg) -> Scoring:
    """E-mail and public IP addresses (and, when asked, phone numbers) replaced by placeholders."""
    from filters.pii import anonymize

    def annotate(doc: dict) -> dict[str, float | None]:
        text, scores = anonymize(doc["text"] or "", emails=cfg.emails, ips=cfg.ips, phones=cfg.phones)
        doc["text"] = text
        return scores

    return Scoring(batched(annotate))


def parse_word_list(text: str) -> frozenset[str]:
    """One word or phrase per line, '#' comments allowed, compared lowercased."""
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )


def read_word_list(path: str) -> frozenset[str]:
    """A word list from any FileSystems path (local, gs://, s3://), compressed or not."""
    from schemas.files import read_bytes

    return parse_word_list(read_bytes(path).decode("utf-8"))
