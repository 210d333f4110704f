"""The pipeline graph: the registered stages in order, then the shards, the card and the funnel.

Every step is a Beam transform with no local-only assumption (paths go through FileSystems, models
load in DoFn.setup, nothing is collected on the driver), so the same graph runs on the DirectRunner,
the portable runner (Flink, Spark) and Dataflow. The stages and their order come from
``pipelines/registry.py``; each returns the stage contract's outputs (``schemas/routing.py``), so this
module chains them without knowing any of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import apache_beam as beam
import pyarrow.compute as pc
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.pvalue import AsList, AsSingleton
from apache_beam.utils.shared import Shared

from dedup.cross_run import IndexPlan
from dedup.registry import EXACT_DEDUP, NEAR_DEDUP
from dedup.transforms import KEYS_SCHEMA, DedupKeys
from pipelines import card, stats, token_shards, write
from pipelines.progress import ProgressPlan
from pipelines.readers import TextColumns
from pipelines.recipe import Recipe
from pipelines.tokenize import TokenizeConfig
from pipelines.transforms import LoadedTokenizer, Tokenize
from pipelines.registry import DOCUMENT_SCHEMA, SYNTHETIC_SCHEMA, stage_transforms
from pipelines.registry import label as stage_label
from schemas import SCHEMA_VERSION, to_row, to_synthetic_row
from schemas.files import file_size, join, write_text
from schemas.outcomes import DOCS, DROPPED, ERRORS, SKIPPED, is_kept
from schemas.packed import by_id, unpack


@dataclass(frozen=True)
class Job:
    inputs: list[str]
    output: str
    recipe: Recipe
    annotate_only: bool = False
    input_format: str | None = None
    columns: TextColumns = field(default_factory=TextColumns)
    near_index: IndexPlan | None = None  # --dedup_against: the persisted LSHBloom index this run extends
    spread_records: bool = True  # reshuffle raw records before extraction (see spread_records())
    tokenizer: dict | None = None  # name, kind and sha256 of the recipe's tokenizer (None: tokenize is off)
    progress: ProgressPlan | None = None  # progress lines while reading and extracting (None: none)


def spread_records(mode: str, runner: str, n_files: int, local_workers: int) -> bool:
    """Whether to reshuffle raw records (HTML) over the workers before extraction.

    The reshuffle lets the workers share the extraction of one big crawl file. On a distributed runner
    it costs a shuffle of the HTML; on the local runners it holds every record of the corpus in the
    runner's memory (measured, packed: 5.0 GiB for 3.25 GB of HTML against 1.6 GiB without it, see
    docs/BENCHMARKS.md, scaling). ``auto`` spreads on distributed runners, and locally only when there
    are fewer files than workers, where per-file parallelism would leave workers idle. Output bytes do
    not depend on it.
    """
    if mode != "auto":
        return mode == "always"
    from pipelines.local_runner import is_local

    return not is_local(runner) or n_files < local_workers


class Stages:
    """The documents as they go through the stages, and what each stage set aside: its drops (counted in
    the funnel), its error rows (errors/) and its other outputs (``skipped`` records, the near-dedup
    index summary), by label."""

    def __init__(self, inputs):
        self.docs = inputs
        self.drops: list = []
        self.errors: list = []
        self.extra: dict[str, dict] = {}
        self.inputs: dict[str, object] = {}  # the documents each step received, by label

    def then(self, label: str, transform) -> None:
        self.inputs[label] = self.docs
        out = self.docs | label >> transform
        self.docs = out[DOCS]
        self.drops.append(out[DROPPED])
        self.errors.append(out[ERRORS])
        self.extra[label] = {name: pcoll for name, pcoll in out.items() if name not in (DOCS, DROPPED, ERRORS)}

    def side(self, name: str):
        """The one stage output called ``name`` (e.g. ``skipped``), or None when no stage made one."""
        found = [outputs[name] for outputs in self.extra.values() if name in outputs]
        return found[0] if found else None


def build(p: beam.Pipeline, job: Job) -> None:
    recipe = job.recipe
    paths = (
        p
        | "Inputs" >> beam.Create(sorted(job.inputs))
        | "Match" >> fileio.MatchAll()
        | "Paths" >> beam.Map(lambda m: m.path)
        | "SpreadFiles" >> beam.Reshuffle()
    )
    flow = Stages(paths)
    for label, transform in stage_transforms(job):  # Read → Extract → Curate → ExactDedup → ... (registry)
        flow.then(label, transform)
    final = flow.docs | "StampRecipe" >> beam.Map(lambda d, h: to_row(dict(d, recipe_hash=h)), recipe.hash)

    shard_infos = final | "Write" >> WriteShards(job.output, recipe.output, recipe.tokenize)
    if job.annotate_only:
        dedup_input = next((flow.inputs[stage_label(s)] for s in (EXACT_DEDUP, NEAR_DEDUP)
                            if stage_label(s) in flow.inputs), None)
        if dedup_input is not None:  # what pipelines.redecide needs to redo dedup over other survivors
            near = recipe.dedup.near if recipe.dedup.near.enabled else None
            key_files = (dedup_input | "DedupKeys" >> DedupKeys(near)
                         | "WriteKeys" >> WriteKeys(job.output, recipe.output.target_shard_bytes))
            shard_infos = (shard_infos, key_files) | "WithKeys" >> beam.Flatten()
    errors = flow.errors | "AllErrors" >> beam.Flatten()
    written_errors, synth_stats, synth_checked = errors, None, None
    if recipe.synth.enabled:
        synthetic = final | "Synthetic" >> SyntheticConfig(job)
        shard_infos = (shard_infos, synthetic["shards"]) | "AllShards" >> beam.Flatten()
        # Backend failures go to errors/ with the read errors, but not into the read funnel: they are
        # about rewrites, not input records (the synth stats count them).
        written_errors = (errors, synthetic["errors"]) | "WithSynthErrors" >> beam.Flatten()
        synth_stats = synthetic["stats"]
        synth_checked = synthetic["checked"]
    decided = (*flow.drops, final) | "Decided" >> beam.Flatten()
    report = {}
    if recipe.output.report:
        from pipelines.report.summary import rules_of
        from pipelines.report.transforms import Report

        report = decided | "Report" >> Report(rules_of(recipe))
    outcomes = (
        decided | "DocOutcome" >> beam.Map(stats.outcome_of),
        errors | "ErrorOutcome" >> beam.Map(lambda e: (e["source"], stats.ERROR, e["reason"])),
        flow.side(SKIPPED) | "SkipOutcome" >> beam.Map(lambda s: (s[0], stats.SKIPPED, s[1])),
    ) | "Outcomes" >> beam.Flatten()
    counts = outcomes | "CountOutcomes" >> beam.combiners.Count.PerElement()
    index_summary = flow.side("index")
    (
        p
        | "Once" >> beam.Create([None])
        | "Finalize" >> beam.Map(
            finalize, job=job, counts=AsList(counts), shards=AsList(shard_infos), errors=AsList(written_errors),
            index=AsList(index_summary) if index_summary is not None else [],
            synth=AsList(synth_stats) if synth_stats is not None else [],
            synth_checked=AsList(synth_checked["outcomes"]) if synth_checked is not None else [],
            synth_sources=AsList(synth_checked["sources"]) if synth_checked is not None else [],
            summary=AsList(report["summary"]) if report else [],
            clusters=AsList(report["clusters"]) if report else [],
        )
    )


class SyntheticConfig(beam.PTransform):
    """Curated rows → MAGA rewrites of the kept ones the recipe selects → the ``synthetic`` config's
    shards. Outputs: ``shards`` (file infos), ``errors`` (backend failures), ``stats`` (one dict)."""

    def __init__(self, job: Job):
        super().__init__()
        self.job = job

    def expand(self, rows):
        # Imported here: synth.transforms pulls Beam's RunInference and with it torch (~2 s of every run's and
        # every worker's start-up), which a run without --synth never needs.
        from synth.transforms import ERRORS, STATS, SYNTHETIC, Synthesize

        recipe, annotate_only = self.job.recipe, self.job.annotate_only
        kept = rows | "KeptOnly" >> beam.Filter(is_kept)
        synth = kept | "Synthesize" >> Synthesize(recipe.synth, annotate_only)
        rewrites, checked = self.corpus_checks(synth[SYNTHETIC], kept)
        if recipe.tokenize.enabled:
            rewrites = (rewrites | "Tokenize" >> Tokenize(recipe.tokenize))[DOCS]
        shards = (
            rewrites
            | "StampRecipe" >> beam.Map(lambda d, h: to_synthetic_row(dict(d, recipe_hash=h)), recipe.hash)
            | "Write" >> WriteShards(self.job.output, recipe.output, recipe.tokenize, write.SYNTHETIC_DIR,
                                     SYNTHETIC_SCHEMA)
        )
        return {"shards": shards, "errors": synth[ERRORS], "stats": synth[STATS], "checked": checked}

    def corpus_checks(self, rewrites, corpus):
        """Rewrites held to the corpus's bar: the language and heuristic stages the recipe runs, exact and
        near copies of a curated document or of another rewrite (``dedup.transforms.AgainstCorpus``), then
        PII, each with its own drop reasons. Returns (rewrites as they are written, {``outcomes``:
        ``(decision, n)`` of every rewrite that passed the synthesis checks, ``sources``: how many selected
        documents still have a rewrite})."""
        from dedup.transforms import AgainstCorpus
        from filters.transforms import Curate
        from pipelines.registry import synthetic_checks
        from synth.maga import STAGE

        recipe, annotate_only = self.job.recipe, self.job.annotate_only
        before, after = synthetic_checks(recipe)
        if annotate_only:  # every written row is scored and PII-corrected, those synthesis rejected too
            rewrites = rewrites | "ToScore" >> beam.Map(lambda d: dict(d, scores=d.get("scores") or {}))
        drops = []
        if before:
            out = rewrites | "CheckRewrites" >> Curate(tuple(before), annotate_only)
            rewrites = out[DOCS]
            drops.append(out[DROPPED])
        exact, near = recipe.dedup.exact.enabled, recipe.dedup.near
        if exact or near.enabled:
            out = (rewrites, corpus) | "AgainstCorpus" >> AgainstCorpus(exact, near if near.enabled else None,
                                                                         annotate_only)
            rewrites = out[DOCS]
            drops.append(out[DROPPED])
        if after:
            out = rewrites | "CheckRewritesAfterDedup" >> Curate(tuple(after), annotate_only)
            rewrites = out[DOCS]
            drops.append(out[DROPPED])
        outcomes = (
            (*drops, rewrites) | "CheckedRewrites" >> beam.Flatten()
            | "Decisions" >> beam.Map(lambda d: d.get("decision") or "keep")
            # annotate-only rows that failed synthesis's own checks were never offered to these stages
            | "OfferedOnly" >> beam.Filter(lambda reason, own: not reason.startswith(own), f"{STAGE}:")
            | "CountOutcomes" >> beam.combiners.Count.PerElement()
        )
        sources = (
            rewrites | "KeptRewrites" >> beam.Filter(is_kept)
            | "SourceIds" >> beam.Map(lambda d: d["provenance"]["source_id"])
            | "DistinctSources" >> beam.Distinct()
            | "CountSources" >> beam.combiners.Count.Globally()
        )
        return rewrites, {"outcomes": outcomes, "sources": sources}


class WriteShards(beam.PTransform):
    """Documents → deterministic shards; emits one info dict per file written.

    ``directory``/``schema``: the dataset config (``data`` for curated documents, ``synthetic`` for
    rewrites, Parquet only). Token shards (``output.formats`` megatron, nanotron) mirror each Parquet
    shard, under ``tokenize``'s tokenizer."""

    def __init__(self, output: str, config: write.OutputConfig, tokenize: TokenizeConfig,
                 directory: str = write.DATA_DIR, schema=DOCUMENT_SCHEMA):
        super().__init__()
        self.output = output
        self.config = config
        self.tokenize = tokenize
        self.directory = directory
        self.schema = schema

    def expand(self, rows):
        target = self.config.target_shard_bytes
        total = rows | "Bytes" >> beam.Map(write.doc_bytes) | "TotalBytes" >> beam.CombineGlobally(sum)
        shards = total | "ShardCount" >> beam.Map(write.num_shards, target)
        # Rows wait for the shard count, then for their shard: packed meanwhile (schemas/packed.py).
        packed = rows | "Pack" >> beam.Map(by_id)
        keyed = packed | "KeyByShard" >> beam.Map(lambda r, n: (write.shard_of(r[0], n), r[1]), AsSingleton(shards))
        # One marker per shard index, so a shard that happens to get no rows is still written.
        markers = shards | "Markers" >> beam.FlatMap(lambda n: [(i, None) for i in range(n)])
        return (
            (keyed, markers)
            | "WithMarkers" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(_WriteShard(self.output, self.config, self.tokenize, self.directory,
                                                     self.schema), AsSingleton(shards))
        )


class WriteKeys(beam.PTransform):
    """Dedup key rows → ``dedup_keys/keys-*.parquet``: shard by id, rows sorted by id (deterministic, like
    the data shards); emits one info dict per file (``kind: keys``)."""

    def __init__(self, output: str, target_shard_bytes: int):
        super().__init__()
        self.output = output
        self.target = target_shard_bytes

    def expand(self, rows):
        shards = (rows | "CountKeys" >> beam.combiners.Count.Globally()
                  | "KeyShards" >> beam.Map(write.num_key_shards, self.target))
        keyed = rows | "KeyByShard" >> beam.Map(lambda r, n: (write.shard_of(r["id"], n), r), AsSingleton(shards))
        markers = shards | "Markers" >> beam.FlatMap(lambda n: [(i, None) for i in range(n)])
        return (
            (keyed, markers)
            | "WithMarkers" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.Map(self._write, self.output, AsSingleton(shards))
        )

    @staticmethod
    def _write(element, output: str, shards: int) -> dict:
        import pyarrow as pa

        index, rows = element
        table = pa.Table.from_pylist(sorted((r for r in rows if r is not None), key=lambda r: r["id"]),
                                     schema=KEYS_SCHEMA)
        relative = write.keys_shard_path(index, shards)
        size = write.write_parquet(join(output, relative), table, "zstd", 100_000)
        return {"file": relative, "kind": "keys", "rows": table.num_rows, "bytes": size}


class _WriteShard(beam.DoFn):
    _TOKENIZE_BATCH = 512  # documents encoded at a time into the token shards

    def __init__(self, output: str, config: write.OutputConfig, tokenize: TokenizeConfig, directory: str, schema):
        self.output = output
        self.config = config
        self.tokenize = tokenize
        self.directory = directory
        self.schema = schema
        self.shared = Shared()
        self.loaded: LoadedTokenizer | None = None
        self.reused = Metrics.counter("write", "shards_already_complete")

    def setup(self):
        if self.config.token_formats:
            self.loaded = self.shared.acquire(lambda: LoadedTokenizer(self.tokenize))

    def process(self, element, shards: int):
        index, rows = element
        table = write.rows_table((unpack(r) for r in rows if r is not None), self.schema)
        text_bytes = sum(len((t or "").encode("utf-8")) for t in table.column("text").to_pylist())
        tokens = pc.sum(write.kept_rows(table).column("token_count")).as_py() or 0  # annotate-only counts all
        content = write.content_digest(table)  # one serialization for every file this shard gives
        cfg = self.config
        for relative, settings, writer in write.shard_targets(cfg, index, shards, self.directory):
            path = join(self.output, relative)
            stamp = write.fingerprint(content, *settings)
            if write.existing_fingerprint(path) == stamp:
                self.reused.inc()  # a rerun: this shard is already complete with exactly these rows
                size = file_size(path)
            else:
                size = writer(path, write.with_fingerprint(table, stamp))
            yield {"file": relative, "rows": table.num_rows, "bytes": size, "text_bytes": text_bytes,
                   "tokens": tokens}
        if cfg.token_formats:
            yield from self._token_shards(table, content, write.parquet_shard_path(index, shards, self.directory))

    def _token_shards(self, table, content, parquet_name: str):
        """One token shard per format for this Parquet shard: its kept rows' texts, in its row order. A
        shard without any has none: Megatron and OLMo-core cannot memory-map an empty file. Stamped with the
        whole shard's ``content`` digest, of which the kept texts are a function."""
        tokenizer = self.loaded.tokenizer
        texts = write.kept_rows(table).column("text").to_pylist()
        if not texts:
            return
        stems, stamps, infos = {}, {}, []
        for fmt in self.config.token_formats:
            stem = token_shards.shard_stem(fmt, self.directory, parquet_name)
            stamp = write.fingerprint(content, fmt, token_shards.LAYOUT_VERSION, self.tokenize.tokenizer,
                                      tokenizer.sha256, tokenizer.bos, tokenizer.eos)
            if write.token_shard_complete(self.output, stem, fmt, stamp):
                self.reused.inc()
                infos += write.token_shard_info(self.output, stem, fmt, len(texts), tokenizer.vocab_size)
            else:
                stems[fmt], stamps[fmt] = stem, stamp
        if stems:
            step = self._TOKENIZE_BATCH
            batches = (tokenizer.documents(texts[i:i + step]) for i in range(0, len(texts), step))
            infos += write.write_token_shards(self.output, stems, stamps, batches, tokenizer.vocab_size,
                                              self.tokenize.tokenizer)
        yield from infos


def finalize(_, job: Job, counts: list, shards: list[dict], errors: list[dict], index: list[dict],
             synth: list[dict], summary: list[dict] = (), clusters: list[tuple] = (),
             synth_checked: list[tuple] = (), synth_sources: list[int] = ()) -> None:
    """Runs once, after every shard is written (and the near-dedup index committed): errors file,
    stats.json, recipe.yaml, report.html and its PNGs (``summary``: the report's one summary, none when
    ``output.report`` is off), dataset card."""
    output, recipe = job.output, job.recipe
    funnel = stats.build_stats(counts)
    files = sorted(shards, key=lambda s: s["file"])
    keep = {s["file"] for s in files} | {write.fingerprint_path(s["stem"]) for s in files if "stem" in s}
    tokens = [s for s in files if "format" in s]
    keys = [s for s in files if s.get("kind") == "keys"]
    files = [s for s in files if "format" not in s and s.get("kind") != "keys"]
    synthetic = [s for s in files if s["file"].startswith(write.SYNTHETIC_DIR + "/")]
    shards = [s for s in files if s not in synthetic]
    arrow = [s for s in shards if s["file"].endswith(".arrow")]
    funnel["identity_problems"] = stats.check_identity(funnel)
    funnel["output"] = stats.output_summary(shards, write.write_errors(output, errors))
    if tokens:
        funnel["output"]["token_shards"] = stats.token_shards(tokens, write.DATA_DIR, job.tokenizer)
    funnel["tokenizer"] = job.tokenizer
    funnel["annotate_only"] = job.annotate_only
    if keys:
        funnel["dedup_keys"] = {"rows": sum(k["rows"] for k in keys), "files": [k["file"] for k in keys]}
    if index:
        funnel["near_dedup_index"] = index[0]
    if synth:
        funnel["synthetic"] = {**stats.with_corpus_checks(synth[0], synth_checked, synth_sources), "output": {
            "rows": sum(s["rows"] for s in synthetic),
            "text_bytes": sum(s["text_bytes"] for s in synthetic),
            "tokens": sum(s["tokens"] for s in synthetic),
            "shards": synthetic,
        }}
        if tokens:
            funnel["synthetic"]["output"]["token_shards"] = stats.token_shards(tokens, write.SYNTHETIC_DIR,
                                                                               job.tokenizer)
    funnel["recipe_hash"] = recipe.hash
    funnel["schema_version"] = SCHEMA_VERSION
    if arrow:
        write.write_arrow_layout(output, [s["file"] for s in arrow], recipe.hash, recipe.description, DOCUMENT_SCHEMA)
    images = []
    if summary:
        from pipelines.report import REPORT_FILE, clusters_of, write_report

        images = write_report(output, funnel, summary[0], clusters_of(clusters), recipe, job.annotate_only)
        keep |= {REPORT_FILE, *images}
    write.remove_stale(output, keep)
    write_text(join(output, "stats.json"), json.dumps(funnel, indent=2) + "\n")
    write_text(join(output, "recipe.yaml"), recipe.to_yaml())
    write_text(join(output, "README.md"), card.render_card(recipe, funnel, job.annotate_only, images))


def read_stats(output: str) -> dict | None:
    """The funnel of a finished run, or None if the run has not written it (yet)."""
    path = join(output, "stats.json")
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        return json.loads(handle.read().decode("utf-8"))
