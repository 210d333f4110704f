"""Beam wrapping of MAGA: select kept documents, batch them deterministically, reformulate them through
RunInference, and route the results to synthetic rows, error rows and one stats dict.

```
 kept docs ─ Select (recipe rule) ─ Cap (smallest id hashes) ─ DeterministicBatches (GroupByKey, sorted)
   ─ RunInference(MagaModelHandler, pre-batched) ─ Route ─┬ "synthetic": SYNTHETIC_SCHEMA rows
                                                          ├ "errors":    ERROR_SCHEMA rows (synth:backend)
   per-document stat deltas (every step) ─ CombineGlobally ┴ "stats":     one dict
```

Why RunInference with ``with_no_batching``: its ``ModelHandler`` is the shape of this job (load a model
once, run it on a batch), and its DoFn keeps one loaded model per worker *process* (``shared.Shared``)
that all the SDK harness's threads use, where a plain ``DoFn.setup`` would load one copy per DoFn
instance (per thread on Dataflow: a dozen copies of a 7B model). It also reports load time and batch
latency as Beam metrics. Its own batching is ``BatchElements``, whose batch sizes adapt to timing and
follow arrival order: with a sampled in-process model the batch a document lands in changes its text
(one seed per forward pass). So batches are built here instead, as a function of the input set only
(``DeterministicBatches``), and handed over pre-batched.

Pure helpers (``synthetic_row``, ``route_rewrites``, ``SynthStats``) are module functions, tested without Beam.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import apache_beam as beam
import xxhash
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult, RunInference

from schemas.outcomes import error_row, is_kept
from schemas.packed import by_id, unpack
from schemas.synthetic import to_synthetic_row
from synth import maga
from synth.config import Selection, SynthConfig

SYNTHETIC, ERRORS, STATS = "synthetic", "errors", "stats"
_STAT = "stat"  # internal tag: per-document stat deltas
BACKEND_ERROR = f"{maga.STAGE}:backend"
#: Stage (a) outcomes of a selected document: pairs found, or why not.
SOURCE_OUTCOMES = ("pairs_found", f"{maga.STAGE}:json", f"{maga.STAGE}:pairs", f"{maga.STAGE}:empty", BACKEND_ERROR)
REPAIRS = ("none", "local", "reask", "failed")
#: The source columns a synthetic row inherits; the rest of a document is not shuffled.
SOURCE_FIELDS = ("id", "record_id", "url", "source", "source_format", "crawl_date", "language", "text")


def stable_hash(text: str, salt: str) -> int:
    """xxh3-64 of ``salt`` and ``text``: the same on every worker and run (Python's ``hash`` is not)."""
    return xxhash.xxh3_64_intdigest(f"{salt}\x1f{text}".encode("utf-8", "surrogatepass"))


# ----------------------------------------------------------------------------------- pure helpers


def _error_row(doc: Mapping[str, Any], message: str) -> dict[str, str]:
    """An error row for a backend failure: the source document's file, and its id as position."""
    return error_row(doc.get("source") or "", doc.get("id"), BACKEND_ERROR, message,
                     record_id=doc.get("record_id") or "", url=doc.get("url") or "")


def synthetic_row(doc: Mapping[str, Any], rewrite: maga.Rewrite) -> dict[str, Any]:
    """A SYNTHETIC_SCHEMA row: the rewrite's text and provenance; where it came from (file, URL, record,
    capture date, language label) copied from the source; page metadata and curation scores null (they
    describe a crawled page, not this text); ``recipe_hash`` left for the pipeline to stamp."""
    return to_synthetic_row(
        {
            "id": rewrite.id,
            "record_id": doc.get("record_id"),
            "url": doc.get("url"),
            "source": doc.get("source"),
            "source_format": doc.get("source_format"),
            "crawl_date": doc.get("crawl_date"),
            "language": doc.get("language"),
            "text": rewrite.text,
            "decision": rewrite.reason or "keep",
            "provenance": rewrite.provenance,
        }
    )


@dataclass
class SourceOutput:
    """What the model step returns for one document: MAGA's result and the token counts (None when no
    tokenizer is configured)."""

    result: maga.SourceResult
    tokenizer: str | None
    tokens_in: int | None
    rewrite_tokens: dict[str, int] = field(default_factory=dict)


@dataclass
class Routed:
    rows: list[dict[str, Any]]
    errors: list[dict[str, str]]
    stats: dict[str, Any]


def route_rewrites(doc: Mapping[str, Any], output: SourceOutput, annotate_only: bool) -> Routed:
    """One selected document's synthetic rows, error rows and stat delta.

    Kept rewrites become rows; in annotate-only mode rejected ones too (``decision`` = their
    ``synth:<check>``). A backend failure (stage a: the whole document; stage b: one rewrite) becomes an
    error row and never a synthetic row. Stage (a) drops (``synth:json``, ``synth:pairs``,
    ``synth:empty``) have no text to write and are counted only.
    """
    result = output.result
    pairs = result.pairs
    stats: Counter[str] = Counter(documents_selected=1, words_in=len(maga.words(doc.get("text") or "")))
    if output.tokens_in is not None:
        stats["tokens_in"] = output.tokens_in
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    if pairs.error is not None:
        source_outcome = BACKEND_ERROR
        errors.append(_error_row(doc, f"pairs: {pairs.error}"))
    else:
        source_outcome = pairs.reason or "pairs_found"
    stats["generated_tokens"] += pairs.generated_tokens + sum(rw.generated_tokens for rw in result.rewrites)
    stats[f"source:{source_outcome}"] += 1
    stats[f"repair:{pairs.repair}"] += 1
    stats["pairs_proposed"] += int(pairs.counts.get("proposed", 0))
    found = pairs.reason is None and pairs.error is None
    stats["pairs_kept"] += len(pairs.pairs) if found else 0
    stats["pairs_catalogue"] += int(pairs.counts.get("catalogue", 0)) if found else 0
    stats["pairs_retried"] += int(pairs.counts.get("retried", 0)) if found else 0
    for rw in sorted(result.rewrites, key=lambda r: r.pair_index):
        stats["rewrites"] += 1
        stats[f"rewrite:{rw.outcome}"] += 1
        if rw.error is not None:
            errors.append(_error_row(doc, f"rewrite {rw.pair_index} ({rw.id}): {rw.error}"))
            continue
        if rw.reason is None:
            stats["words_out"] += len(maga.words(rw.text or ""))
            stats["tokens_out"] += output.rewrite_tokens.get(rw.id, 0)
        if rw.reason is None or annotate_only:
            rows.append(synthetic_row(doc, rw))
    stats["synthetic_rows"] += len(rows)
    stats["sources_expanded"] += int(stats["rewrite:keep"] > 0)
    stats["errors"] += len(errors)
    return Routed(rows, errors, {**stats, "tokenizer": output.tokenizer})


def _ratio(numerator: int | None, denominator: int | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


class SynthStats(beam.CombineFn):
    """Sums the per-document stat deltas into one dict. Counts add, so the result does not depend on
    bundling or order; ratios are computed once, at the end."""

    def __init__(self, backend: str, model: str, annotate_only: bool):
        self.backend, self.model, self.annotate_only = backend, model, annotate_only

    def create_accumulator(self) -> tuple[Counter, set]:
        return Counter(), set()

    def add_input(self, acc: tuple[Counter, set], delta: Mapping[str, Any]) -> tuple[Counter, set]:
        counts, tokenizers = acc
        for key, value in delta.items():
            if key == "tokenizer":
                if value:
                    tokenizers.add(value)
            else:
                counts[key] += value
        return acc

    def merge_accumulators(self, accs: Iterable[tuple[Counter, set]]) -> tuple[Counter, set]:
        counts, tokenizers = Counter(), set()
        for c, t in accs:
            counts.update(c)
            tokenizers |= t
        return counts, tokenizers

    def extract_output(self, acc: tuple[Counter, set]) -> dict[str, Any]:
        return summarize(acc[0], acc[1], self.backend, self.model, self.annotate_only)


def summarize(counts: Mapping[str, int], tokenizers: set[str], backend: str, model: str, annotate_only: bool) -> dict:
    """The stats dict from summed counts (see synth/README.md for every key)."""
    tokenizer = ",".join(sorted(tokenizers)) or None
    counted = tokenizer is not None
    outcomes = {k.split(":", 1)[1]: v for k, v in counts.items() if k.startswith("rewrite:")}
    outcomes = {"keep": outcomes.pop("keep", 0), BACKEND_ERROR: outcomes.pop(BACKEND_ERROR, 0), **outcomes}
    kept = outcomes["keep"]
    tokens_in = counts.get("tokens_in", 0) if counted else None
    tokens_out = counts.get("tokens_out", 0) if counted else None
    return {
        "backend": backend,
        "model": model,
        "tokenizer": tokenizer,
        "annotate_only": annotate_only,
        "documents_in": counts.get("documents_in", 0),
        "documents_not_selected": counts.get("documents_not_selected", 0),
        "documents_over_cap": counts.get("documents_over_cap", 0),
        "documents_selected": counts.get("documents_selected", 0),
        "words_in": counts.get("words_in", 0),
        "tokens_in": tokens_in,
        "sources": {o: counts.get(f"source:{o}", 0) for o in SOURCE_OUTCOMES},
        "pairs_repair": {r: counts.get(f"repair:{r}", 0) for r in REPAIRS},
        "pairs_proposed": counts.get("pairs_proposed", 0),
        "pairs_kept": counts.get("pairs_kept", 0),
        "pairs_catalogue": counts.get("pairs_catalogue", 0),
        "pairs_retried": counts.get("pairs_retried", 0),
        "rewrites": counts.get("rewrites", 0),
        "rewrite_outcomes": dict(sorted(outcomes.items(), key=lambda kv: (kv[0] != "keep", kv[0]))),
        "synthetic_documents": kept,
        "synthetic_rows": counts.get("synthetic_rows", 0),
        "sources_expanded": counts.get("sources_expanded", 0),
        "words_out": counts.get("words_out", 0),
        "tokens_out": tokens_out,
        # Every completion token the backend reported (pairs, re-asks, rewrites, judge), kept or not:
        # what the run cost, next to tokens_out, what it yielded.
        "generated_tokens": counts.get("generated_tokens", 0),
        "errors": counts.get("errors", 0),
        "expansion": {
            "documents": _ratio(kept, counts.get("documents_selected", 0)),
            "words": _ratio(counts.get("words_out", 0), counts.get("words_in", 0)),
            "tokens": _ratio(tokens_out, tokens_in),
        },
    }


def batches(docs: Iterable[dict], size: int) -> Iterator[list[dict]]:
    """``docs`` sorted by id, cut into lists of ``size``: the same lists whatever order they came in."""
    ordered = sorted(docs, key=lambda d: str(d["id"]))
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


# ------------------------------------------------------------------------------------ model handler


@dataclass
class LoadedBackend:
    """What ``MagaModelHandler.load_model`` returns: the backend, and what counts tokens (None: words only)."""

    backend: Any
    tokenizer_label: str | None = None
    counter: Callable[[str], int] | None = None

    def count(self, text: str) -> int | None:
        return None if self.counter is None else self.counter(text)


class MagaModelHandler(ModelHandler[Sequence[dict], PredictionResult, LoadedBackend]):
    """RunInference's view of MAGA: a "model" is a loaded backend, a batch is a list of documents, a
    prediction is one ``SourceOutput`` per document (``PredictionResult.example`` is the document).

    ``load_model`` loads a local model eagerly, so a wrong path or a model that does not fit fails the
    worker's setup with the reason instead of turning every document into an error row; a server is
    not contacted at load time (its failures are per request, hence error rows). ``run_inference``
    never raises for a backend failure: ``maga.reformulate`` turns it into errors in its results.
    """

    def __init__(self, config: SynthConfig, annotate_only: bool = False):
        super().__init__()
        self.config = config
        self.maga_config = config.to_maga_config(annotate_only)

    def load_model(self) -> LoadedBackend:
        backend = self.config.make_backend()
        if hasattr(backend, "load"):
            backend.load()
        return LoadedBackend(backend, *self.config.token_counter(backend))

    def run_inference(
        self, batch: Sequence[dict], model: LoadedBackend, inference_args: dict | None = None
    ) -> Iterator[PredictionResult]:
        results = maga.reformulate(batch, model.backend, self.maga_config)
        for doc, result in zip(batch, results, strict=True):
            rewrite_tokens = {
                rw.id: n for rw in result.rewrites if rw.text is not None and (n := model.count(rw.text)) is not None
            }
            output = SourceOutput(result, model.tokenizer_label, model.count(doc.get("text") or ""), rewrite_tokens)
            yield PredictionResult(doc, output)

    def get_num_bytes(self, batch: Sequence[dict]) -> int:
        return sum(len((d.get("text") or "").encode("utf-8")) for d in batch)

    def get_metrics_namespace(self) -> str:
        return "synth"


# ------------------------------------------------------------------------------------------- DoFns


class _Select(beam.DoFn):
    """Kept documents the recipe rule selects, projected onto SOURCE_FIELDS; a stat delta for the rest."""

    def __init__(self, selection: Selection | None):
        self.selection = selection

    def process(self, doc: dict):
        # A document that is not kept (annotate-only runs pass every document) is not a candidate.
        if is_kept(doc):
            if self.selection is None or self.selection.selects(doc):
                yield beam.pvalue.TaggedOutput(_STAT, {"documents_in": 1})
                yield {name: doc.get(name) for name in SOURCE_FIELDS}
            else:
                yield beam.pvalue.TaggedOutput(_STAT, {"documents_in": 1, "documents_not_selected": 1})


class _WithinCap(beam.DoFn):
    def process(self, element: tuple[str, bytes], chosen: frozenset):
        doc_id, packed = element
        if doc_id in chosen:
            yield unpack(packed)
        else:
            yield beam.pvalue.TaggedOutput(_STAT, {"documents_over_cap": 1})


class _Route(beam.DoFn):
    def __init__(self, annotate_only: bool):
        self.annotate_only = annotate_only

    def process(self, prediction: PredictionResult):
        routed = route_rewrites(prediction.example, prediction.inference, self.annotate_only)
        for key, value in routed.stats.items():
            if key.startswith(("rewrite:", "source:")):
                Metrics.counter("synth", key.split(":", 1)[1]).inc(value)
        yield from routed.rows
        for error in routed.errors:
            yield beam.pvalue.TaggedOutput(ERRORS, error)
        yield beam.pvalue.TaggedOutput(_STAT, routed.stats)


# -------------------------------------------------------------------------------------- transforms


class CapDocuments(beam.PTransform):
    """At most ``n`` documents: those with the smallest salted id hash, so the choice depends only on the
    set of ids, never on arrival order. Returns (documents, stat deltas for the rest)."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def expand(self, docs):
        chosen = (
            docs
            | "HashIds" >> beam.Map(lambda d: (stable_hash(str(d["id"]), "synth-cap"), str(d["id"])))
            | "Smallest" >> beam.combiners.Top.Smallest(self.n)
            | "IdSet" >> beam.Map(lambda top: frozenset(i for _, i in top))
        )
        # Every selected document waits for the chosen set: packed meanwhile (schemas/packed.py).
        capped = (
            docs
            | "Pack" >> beam.Map(by_id)
            | "WithinCap" >> beam.ParDo(_WithinCap(), beam.pvalue.AsSingleton(chosen)).with_outputs(_STAT, main="docs")
        )
        return capped.docs, capped[_STAT]


class DeterministicBatches(beam.PTransform):
    """Lists of at most ``size`` documents whose composition is a function of the input set only.

    G = ceil(count / size) groups (a side input, like the shard count in pipelines.WriteShards); a
    document goes to group ``hash(id) mod G``; each group is sorted by id and cut into lists of
    ``size``. G groups spread the work over G workers; whatever the bundling, a document always meets
    the same neighbours in the same order, so an in-process sampled model writes the same text.
    """

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def expand(self, docs):
        size = self.size
        groups = (
            docs
            | "Count" >> beam.combiners.Count.Globally()
            | "Groups" >> beam.Map(lambda n: max(1, math.ceil(n / size)))
        )
        return (
            docs
            | "Pack" >> beam.Map(by_id)  # packed while waiting for the count
            | "KeyByGroup" >> beam.Map(lambda kv, g: (stable_hash(kv[0], "synth-batch") % g, kv[1]),
                                       beam.pvalue.AsSingleton(groups))
            | "Group" >> beam.GroupByKey()
            | "Cut" >> beam.FlatMap(lambda kv: batches(map(unpack, kv[1]), size))
        )


class Synthesize(beam.PTransform):
    """MAGA reformulation of the kept documents the recipe selects.

    Input: document dicts (``schemas.document`` columns; ``decision`` None or "keep"; others are
    ignored). Output: ``{"synthetic": rows for SYNTHETIC_SCHEMA (recipe_hash None), "errors": rows for
    ERROR_SCHEMA (reason synth:backend), "stats": one dict}``.
    """

    def __init__(self, config: SynthConfig, annotate_only: bool = False):
        super().__init__()
        self.config = config
        self.annotate_only = annotate_only

    def expand(self, docs):
        config = self.config
        selected = docs | "Select" >> beam.ParDo(_Select(config.selection())).with_outputs(_STAT, main="docs")
        candidates, deltas = selected.docs, [selected[_STAT]]
        if config.max_documents is not None:
            candidates, over_cap = candidates | "Cap" >> CapDocuments(config.max_documents)
            deltas.append(over_cap)
        handler = MagaModelHandler(config, self.annotate_only).with_no_batching()
        routed = (
            candidates
            | "Batch" >> DeterministicBatches(config.batch_size)
            | "Reformulate" >> RunInference(handler)
            | "Route" >> beam.ParDo(_Route(self.annotate_only)).with_outputs(ERRORS, _STAT, main=SYNTHETIC)
        )
        deltas.append(routed[_STAT])
        stats = (
            deltas
            | "AllDeltas" >> beam.Flatten()
            | "Stats" >> beam.CombineGlobally(SynthStats(config.backend_name, config.model_name, self.annotate_only))
        )
        return {SYNTHETIC: routed[SYNTHETIC], ERRORS: routed[ERRORS], STATS: stats}
