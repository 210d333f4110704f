"""``python -m pipelines.redecide OUTPUT --output NEW``: another recipe's decisions from stored scores.

An annotate-only run (``python -m pipelines.run --annotate_only``) writes every document with every
stage's scores, its token count and (``dedup_keys/``) the keys dedup grouped it by. This command applies
another recipe to those rows, with no extraction and no model call, and writes a new dataset folder
(shards, stats.json, card, report.html) whose kept documents are those a fresh run of that recipe keeps:

* per-document rules (thresholds, the language list, a stage switched off) are decided again from the
  stored scores, in the pipeline's stage order, the first failing rule being the reason;
* the corpus stages are recomputed over the new survivors from what the rows and ``dedup_keys/`` hold:
  exact dedup (text keys, the recipe's order), CCNet buckets and the perplexity band (the stored
  perplexities), near dedup (the stored band keys, quality then id);
* a change that stored scores cannot decide is refused with its reason: another model, extraction or
  tokenizer, a stage switched on that did not score, a text correction switched on or off (it changes the
  text every later stage scored), near-dedup parameters other than those of the stored band keys, an
  index of earlier runs (``--dedup_against``), synthesis.

Everything runs on whole columns (pyarrow, numpy, pandas): no per-document Python on the decision path.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipelines import card, stats, write
from pipelines.recipe import Recipe, RecipeError, load_recipe
from pipelines.registry import DOCUMENT_SCHEMA, STAGES, section
from schemas import SCHEMA_VERSION
from schemas.files import atomic_write, join, read_bytes, write_text
from schemas.outcomes import KEEP

#: Per stage, the settings a new recipe may change and still be decided from the stored scores: the rules
#: (every stage), the language list and floor, what decontamination does with a hit, and the perplexity
#: section's corpus step (buckets and band: recomputed from the stored perplexities).
FREE_SETTINGS: dict[str, set[str]] = {
    "language": {"keep", "min_score"},
    "decontamination": {"action"},
    "perplexity": {"bucket_percentiles", "bucket_cutoffs", "select", "select_rate"},
    "exact_dedup": {"enabled", "order"},
    "near_dedup": {"enabled", "capacity", "index_shards"},
}
#: Recipe keys outside the stages that do not change any decision.
_FREE_TOP = {"name", "description", "license", "max_error_rate", "output"}


class RedecideError(ValueError):
    """A change the stored scores cannot decide, or an output that has no stored scores; says which and why."""


@dataclass
class Plan:
    """What a new recipe asks of the stored rows: stages decided again from their scores, corpus stages
    recomputed, stages left as the annotated run had them."""

    redecided: list[str] = field(default_factory=list)
    recomputed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"re-decided from stored scores: {', '.join(self.redecided) or 'none'}",
                 f"recomputed: {', '.join(self.recomputed) or 'none'}"]
        return "; ".join(parts)


def _dump(node: Any) -> dict:
    return node.model_dump(mode="json") if hasattr(node, "model_dump") else dict(node)


def plan(old: Recipe, new: Recipe, old_stats: dict) -> Plan:
    """Check that ``new`` can be decided from the rows ``old`` annotated; raise RedecideError naming the
    setting and the reason otherwise."""
    if not old_stats.get("annotate_only"):
        raise RedecideError("the output is not annotate-only: it holds the kept documents only, not the ones "
                            "another recipe might keep; run python -m pipelines.run --annotate_only")
    if old_stats.get("near_dedup_index"):
        raise RedecideError("the annotated run near-deduplicated against an index of earlier runs "
                            "(--dedup_against): those decisions depend on the index; rerun the pipeline")
    if new.synth.enabled:
        raise RedecideError("synth.enabled: rewriting needs the language model; run python -m pipelines.run --synth")
    if new.output.token_formats:
        raise RedecideError(f"output.formats {new.output.token_formats}: token shards are written by "
                            "python -m pipelines.run; redecide writes Parquet (and Arrow)")
    for key in sorted(set(_dump(old)) - {"synth", *_FREE_TOP} - {s.section.split(".")[0] for s in STAGES}):
        if _dump(old)[key] != _dump(new)[key]:
            raise RedecideError(f"{key} changed: it is not a setting redecide can apply")
    result = Plan()
    seen_sections = set()
    for spec in STAGES:
        if spec.section in seen_sections and spec.name == "perplexity_select":
            continue
        seen_sections.add(spec.section)
        before, after = _dump(section(old, spec.section)), _dump(section(new, spec.section))
        if before == after:
            result.unchanged.append(spec.name)
            continue
        changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
        was_on, is_on = before.get("enabled", True), after.get("enabled", True)
        free = {"rules"} | FREE_SETTINGS.get(spec.name, set())
        if was_on != is_on and spec.name not in ("exact_dedup", "near_dedup"):
            if is_on:
                raise RedecideError(f"{spec.section}.enabled: the annotated run did not run {spec.name}, so its "
                                    "scores are not stored; rerun the pipeline")
            if spec.corrects_text:
                raise RedecideError(f"{spec.section}.enabled: {spec.name} changes the text every later stage "
                                    "scored; rerun the pipeline")
            free = free | {"enabled"}
        if spec.name == "near_dedup" and is_on:
            if not was_on or old.dedup.near.lsh_params() != new.dedup.near.lsh_params():
                raise RedecideError("dedup.near: the stored band keys are of other parameters (threshold, "
                                    "num_perm, ngram, p_effective); rerun the pipeline")
        if spec.name in ("read", "extract", "tokenize"):
            free = set()
        refused = sorted(changed - free)
        if refused:
            raise RedecideError(f"{spec.section}.{refused[0]} changed: the stored scores are of the old setting "
                                "(another model, list or option gives other scores); rerun the pipeline")
        if spec.name not in ("exact_dedup", "near_dedup"):
            result.redecided.append(spec.name)
    if (new.dedup.exact.enabled or new.dedup.near.enabled) and not old_stats.get("dedup_keys"):
        raise RedecideError("the output has no dedup_keys/ (annotated by an older version); rerun the pipeline "
                            "with --annotate_only")
    # The corpus stages see other survivors whenever any decision moves: always recomputed.
    result.recomputed += [name for name, on in (("exact dedup", new.dedup.exact.enabled),
                                                ("perplexity buckets" + (" and band" if new.perplexity.select != "none"
                                                                         else ""), new.perplexity.enabled),
                                                ("near dedup", new.dedup.near.enabled)) if on]
    return result


# ---------------------------------------------------------------------------------------- decisions


def _scores(table: pa.Table, stage: str) -> tuple[np.ndarray, pa.StructArray | None]:
    """(whether the stage scored each row, its struct column or None when the schema has none)."""
    scores = table.column("scores")
    if stage not in [f.name for f in scores.type]:
        return np.zeros(table.num_rows, dtype=bool), None
    column = pc.struct_field(scores, stage)
    return pc.is_valid(column).to_numpy(zero_copy_only=False), column


def _values(column, score: str) -> np.ndarray:
    """A score as float64, NaN where null."""
    return pc.struct_field(column, score).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def _strings(table: pa.Table, name: str) -> np.ndarray:
    return np.array(table.column(name).to_pylist(), dtype=object)


def _apply_stage(table: pa.Table, reason: np.ndarray, spec, cfg) -> None:
    """One per-document stage's verdicts on the rows still open in ``reason`` (updated in place): its own
    check (language's list, decontamination's hit), then its rules in recipe order, as ``Stage.decide``."""
    open_ = reason == None  # noqa: E711 — numpy elementwise
    scored, column = _scores(table, spec.name)
    if spec.name == "language" and cfg.keep:  # the stage's own check, before its rules (Stage.decide)
        languages = _strings(table, "language")
        fails = open_ & scored & ~np.isin(languages, list(cfg.keep))
        reason[fails] = "language:not_kept"
        open_ = open_ & ~fails
    if spec.name == "decontamination" and cfg.action == "drop":
        from filters.decontamination import set_name

        names = [f.name or set_name(f.path) for f in cfg.eval_files()]
        ngrams, at = _values(column, "ngrams"), _values(column, "set")
        fails = open_ & scored & (np.nan_to_num(ngrams) > 0)
        reason[fails] = [f"decontamination:{names[int(i)]}" for i in at[fails]]
        open_ = open_ & ~fails
    for rule in spec.rules(cfg) if spec.rules else ():
        fails = open_ & scored & rule.fails(_values(column, rule.score))
        reason[fails] = rule.reason
        open_ = open_ & ~fails


def rule_decisions(table: pa.Table, recipe: Recipe) -> np.ndarray:
    """The first reason of every row under ``recipe``'s per-document stages (object array, None = kept so
    far): read and extraction verdicts as stored, then the URL filter, then language ... perplexity."""
    n = table.num_rows
    old = _strings(table, "decision")
    reason = np.full(n, None, dtype=object)
    text = table.column("text")
    is_read = np.array([d is not None and d.startswith("read:") for d in old])
    reason[is_read] = old[is_read]

    from pipelines.registry import enabled_stages

    for spec, cfg in enabled_stages(recipe):
        if spec.name == "extract":
            open_ = reason == None  # noqa: E711
            stored = np.array([d is not None and d.startswith("extract:") for d in old])
            reason[open_ & stored] = old[open_ & stored]
            # A page the old URL filter dropped was still extracted (annotate-only): without text, its
            # extraction failed too (empty, or too large, binary, timed out: the reason was not kept).
            by_url = np.array([d is not None and d.startswith("url:") for d in old], dtype=bool)
            for i in np.flatnonzero((reason == None) & by_url):  # noqa: E711
                row = text[int(i)].as_py()
                if not (row or "").strip():
                    reason[i] = "extract:empty"
        elif spec.per_document and spec.name not in ("pii", "tokenize"):
            _apply_stage(table, reason, spec, cfg)
    return reason


def exact_copies(ids: np.ndarray, text_keys: np.ndarray, order: list[np.ndarray]) -> np.ndarray:
    """For rows that share a text key, the id of the group's first row by ``order`` (then id), else None."""
    import pandas as pd

    frame = pd.DataFrame({"key": text_keys, **{f"o{i}": o for i, o in enumerate(order)}, "id": ids})
    frame = frame.sort_values(["key", *[f"o{i}" for i in range(len(order))], "id"], kind="stable")
    first = frame.groupby("key", sort=False)["id"].transform("first")
    copy_of = np.full(len(ids), None, dtype=object)
    is_copy = (first != frame["id"]).to_numpy()
    copy_of[frame.index.to_numpy()[is_copy]] = first.to_numpy()[is_copy]
    return copy_of


def near_copies(ids: np.ndarray, quality: np.ndarray, band_keys: list) -> np.ndarray:
    """``dedup.transforms.NearDedup`` on whole columns: a row sharing a (band, key) with a row earlier in
    (quality descending, id) order is a copy; ``duplicate_of`` is the earliest such row."""
    import pandas as pd

    lengths = np.array([len(k) if k is not None else 0 for k in band_keys])
    rows = np.repeat(np.arange(len(ids)), lengths)
    bands = np.concatenate([np.arange(n) for n in lengths]) if len(rows) else np.zeros(0, dtype=int)
    keys = np.concatenate([np.asarray(k, dtype=np.uint64) for k in band_keys if k]) if len(rows) else np.zeros(0, np.uint64)
    neg_quality = -np.nan_to_num(quality, nan=0.0)
    frame = pd.DataFrame({"row": rows, "band": bands, "key": keys, "q": neg_quality[rows], "id": ids[rows]})
    frame = frame.sort_values(["band", "key", "q", "id"], kind="stable")
    grouped = frame.groupby(["band", "key"], sort=False)
    frame["first_q"] = grouped["q"].transform("first")
    frame["first_id"] = grouped["id"].transform("first")
    hits = frame[frame["id"] != frame["first_id"]].sort_values(["row", "first_q", "first_id"], kind="stable")
    hits = hits.drop_duplicates("row")
    copy_of = np.full(len(ids), None, dtype=object)
    copy_of[hits["row"].to_numpy()] = hits["first_id"].to_numpy()
    return copy_of


@dataclass
class Decided:
    decision: np.ndarray  # "keep" or the first reason
    duplicate_of: np.ndarray
    ccnet_bucket: np.ndarray


def decide(table: pa.Table, keys: pa.Table | None, recipe: Recipe) -> Decided:
    """Every row's decision, duplicate_of and CCNet bucket under ``recipe`` (rows: the annotated run's)."""
    from filters import quantiles
    from filters.perplexity import band_bounds, ccnet_bucket, perplexity_band

    n = table.num_rows
    ids = _strings(table, "id")
    reason = rule_decisions(table, recipe)
    duplicate_of = np.full(n, None, dtype=object)
    bucket = np.full(n, None, dtype=object)
    key_of, bands_of = {}, {}
    if keys is not None:
        key_ids = keys.column("id").to_pylist()
        key_of = dict(zip(key_ids, keys.column("text_key").to_pylist()))
        bands_of = dict(zip(key_ids, keys.column("band_keys").to_pylist()))
    if recipe.dedup.exact.enabled:
        alive = np.flatnonzero(reason == None)  # noqa: E711
        order = [_strings(table, name)[alive] for name in recipe.dedup.exact.order]
        order = [np.array([v or "" for v in o], dtype=object) for o in order]
        copy_of = exact_copies(ids[alive], np.array([key_of[i] for i in ids[alive]], dtype=object), order)
        copies = alive[copy_of != None]  # noqa: E711
        reason[copies] = "dedup:exact"
        duplicate_of[copies] = copy_of[copy_of != None]  # noqa: E711
    if recipe.perplexity.enabled:
        _, column = _scores(table, "perplexity")
        ppl = _values(column, "perplexity")
        alive = reason == None  # noqa: E711
        histogram = quantiles.empty()
        finite = alive & np.isfinite(ppl) & (ppl > 0)
        for value in ppl[finite]:  # the pipeline's own binning (PerplexityHistogram), value by value
            histogram[quantiles.bin_of(float(value))] += 1

        def quantile_of(q: float) -> float:
            return quantiles.quantile(histogram, q)

        cfg = recipe.perplexity
        cutoffs = cfg.cutoffs(quantile_of)
        bucketed = alive | (reason == "dedup:exact")
        bucket[bucketed] = [ccnet_bucket(float(v), cutoffs) for v in ppl[bucketed]]
        if cfg.select != "none":
            lo, hi = band_bounds(quantile_of, cfg.select, cfg.select_rate)
            out = [i for i in np.flatnonzero(alive) if not perplexity_band(float(ppl[i]), lo, hi)]
            reason[out] = "perplexity:band"
    if recipe.dedup.near.enabled:
        alive = np.flatnonzero(reason == None)  # noqa: E711
        _, column = _scores(table, "quality")
        quality = (_values(column, "score")[alive] if column is not None and recipe.quality.enabled
                   else np.zeros(len(alive)))  # NearDedup's order: quality 0 where the stage did not run
        copy_of = near_copies(ids[alive], quality, [bands_of.get(i) for i in ids[alive]])
        copies = alive[copy_of != None]  # noqa: E711
        reason[copies] = "dedup:near"
        duplicate_of[copies] = copy_of[copy_of != None]  # noqa: E711
    if recipe.pii.enabled:  # after dedup, as the pipeline's second Curate
        from pipelines.registry import stage

        _apply_stage(table, reason, stage("pii"), recipe.pii)
    reason[reason == None] = KEEP  # noqa: E711
    return Decided(reason, duplicate_of, bucket)


# ----------------------------------------------------------------------------------------- reading


def _read_json(path: str) -> dict:
    return json.loads(read_bytes(path).decode("utf-8"))


def read_output(folder: str) -> tuple[Recipe, dict, pa.Table, pa.Table | None, pa.Table]:
    """(its recipe, its stats, its rows, its dedup keys or None, its error rows) of a finished run."""
    stats_path = join(folder, "stats.json")
    if not FileSystems.exists(stats_path):
        raise RedecideError(f"{folder} has no stats.json: not the output of a finished run")
    old_stats = _read_json(stats_path)
    import yaml

    recipe = Recipe.model_validate(yaml.safe_load(read_bytes(join(folder, "recipe.yaml")).decode("utf-8")))
    if recipe.hash != old_stats["recipe_hash"]:
        raise RedecideError(f"{folder}/recipe.yaml is not the recipe its rows were made with "
                            f"({recipe.hash} != {old_stats['recipe_hash']})")
    if old_stats.get("schema_version") != SCHEMA_VERSION:
        raise RedecideError(f"{folder} was written with schema {old_stats.get('schema_version')}, this version reads "
                            f"{SCHEMA_VERSION}; rerun the pipeline")

    # Arrow's reader threads only contend when this process may use one core (measured: 2x slower).
    threads = len(os.sched_getaffinity(0)) > 1 if hasattr(os, "sched_getaffinity") else True

    def table_of(files: list[str], schema: pa.Schema) -> pa.Table:
        tables = []
        for relative in files:
            with FileSystems.open(join(folder, relative)) as handle:
                tables.append(pq.read_table(pa.PythonFile(handle, mode="r"), schema=schema, use_threads=threads))
        return pa.concat_tables(tables).combine_chunks() if tables else schema.empty_table()

    parquet = [s["file"] for s in old_stats["output"]["shards"] if s["file"].endswith(".parquet")]
    if not parquet:
        raise RedecideError(f"{folder} has no Parquet shards (output.formats without parquet); redecide reads those")
    rows = table_of(parquet, DOCUMENT_SCHEMA)
    keys = None
    if old_stats.get("dedup_keys"):
        from dedup.transforms import KEYS_SCHEMA

        keys = table_of(old_stats["dedup_keys"]["files"], KEYS_SCHEMA)
    from schemas import ERROR_SCHEMA

    errors = table_of([old_stats["output"]["errors_file"]], ERROR_SCHEMA)
    return recipe, old_stats, rows, keys, errors


# ----------------------------------------------------------------------------------------- writing


def _without_stages(scores: pa.ChunkedArray, off: set[str]) -> pa.ChunkedArray:
    """``scores`` with the structs of the stages in ``off`` null: what a run without those stages writes."""
    if not off:
        return scores
    array = scores.combine_chunks()
    fields = list(array.type)
    children = [pa.nulls(len(array), f.type) if f.name in off else array.field(i) for i, f in enumerate(fields)]
    return pa.chunked_array([pa.StructArray.from_arrays(children, fields=fields,
                                                        mask=array.is_null() if array.null_count else None)])


def _updated(rows: pa.Table, decided: Decided, recipe: Recipe) -> pa.Table:
    """The rows with their new decision, duplicate_of, ccnet_bucket and recipe hash; the scores of stages
    the recipe switches off are null, as in a run without them."""
    from pipelines.registry import enabled_stages

    on = {spec.name for spec, _ in enabled_stages(recipe)}
    columns = {name: rows.column(name) for name in rows.column_names}
    columns["scores"] = _without_stages(columns["scores"], {s.name for s in STAGES if s.scores} - on)
    columns["decision"] = pa.array(decided.decision, pa.string())
    columns["duplicate_of"] = pa.array(decided.duplicate_of, pa.string())
    columns["ccnet_bucket"] = pa.array(decided.ccnet_bucket, pa.string())
    columns["recipe_hash"] = pa.array(np.full(rows.num_rows, recipe.hash, dtype=object), pa.string())
    return pa.Table.from_arrays([columns[f.name] for f in DOCUMENT_SCHEMA], schema=DOCUMENT_SCHEMA)


def write_shards(output: str, table: pa.Table, config: write.OutputConfig) -> list[dict]:
    """``table``'s rows into shards exactly as the pipeline's WriteShards does (same count, same rows per
    shard, same bytes); returns the info dicts."""
    text_bytes = pc.fill_null(pc.binary_length(table.column("text")), 0)
    total = int(pc.sum(text_bytes).as_py() or 0) + 512 * table.num_rows  # write.doc_bytes, summed
    shards = write.num_shards(total, config.target_shard_bytes)
    index = np.array([write.shard_of(i, shards) for i in table.column("id").to_pylist()], dtype=np.int64)
    infos = []
    for shard in range(shards):
        part = table.filter(pa.array(index == shard)).sort_by("id").combine_chunks()
        part = pa.Table.from_arrays(part.columns, schema=DOCUMENT_SCHEMA)
        content = write.content_digest(part)
        tokens = pc.sum(write.kept_rows(part).column("token_count")).as_py() or 0
        size_text = int(pc.sum(pc.fill_null(pc.binary_length(part.column("text")), 0)).as_py() or 0)
        for relative, settings, writer in write.shard_targets(config, shard, shards):
            path = join(output, relative)
            size = writer(path, write.with_fingerprint(part, write.fingerprint(content, *settings)))
            infos.append({"file": relative, "rows": part.num_rows, "bytes": size, "text_bytes": size_text,
                          "tokens": tokens})
    return infos


def funnel(rows: pa.Table, decision: np.ndarray, errors: pa.Table, old_stats: dict) -> dict:
    """stats.build_stats of the new decisions, the stored errors and the stored non-document records."""
    import pandas as pd

    frame = pd.DataFrame({"source": rows.column("source").to_pylist(), "decision": decision})
    counts = []
    for (source, reason), n in frame.value_counts(sort=False).items():
        counts.append(((source, stats.KEPT, "") if reason == KEEP else (source, stats.DROPPED, reason), int(n)))
    for (source, reason), n in pd.DataFrame({"source": errors.column("source").to_pylist(),
                                             "reason": errors.column("reason").to_pylist()}).value_counts().items():
        counts.append(((source, stats.ERROR, reason), int(n)))
    for source, entry in old_stats["files"].items():
        counts += [((source, stats.SKIPPED, kind), n) for kind, n in entry["skipped_records"].items()]
    return stats.build_stats(counts)


def redecide(folder: str, output: str, recipe: Recipe, annotate_only: bool = False,
             timings: dict | None = None) -> dict:
    """Decide ``folder``'s annotated rows under ``recipe`` and write the new dataset to ``output``; returns
    its stats (stats.json)."""
    timings = {} if timings is None else timings
    lap = time.perf_counter()

    def took(step: str) -> None:
        nonlocal lap
        now = time.perf_counter()
        timings[step] = round(now - lap, 3)
        lap = now

    old_recipe, old_stats, rows, keys, errors = read_output(folder)
    the_plan = plan(old_recipe, recipe, old_stats)
    took("read")
    decided = decide(rows, keys, recipe)
    took("decide")
    table = _updated(rows, decided, recipe)
    written = table if annotate_only else table.filter(pa.array(decided.decision == KEEP))
    shards = write_shards(output, written, recipe.output)
    took("write")
    result = funnel(rows, decided.decision, errors, old_stats)
    result["identity_problems"] = stats.check_identity(result)
    result["output"] = stats.output_summary(shards, write.write_errors(output, errors.to_pylist()))
    result["tokenizer"] = old_stats.get("tokenizer") if recipe.tokenize.enabled else None
    result["annotate_only"] = annotate_only
    result["redecided_from"] = {"output": folder, "recipe_hash": old_recipe.hash, "plan": the_plan.summary()}
    result["recipe_hash"] = recipe.hash
    result["schema_version"] = SCHEMA_VERSION
    arrow = [s["file"] for s in shards if s["file"].endswith(".arrow")]
    if arrow:
        write.write_arrow_layout(output, arrow, recipe.hash, recipe.description, DOCUMENT_SCHEMA)
    keep = {s["file"] for s in shards} | {result["output"]["errors_file"]}
    if annotate_only and old_stats.get("dedup_keys"):  # every row is written again: so are its dedup keys
        files = old_stats["dedup_keys"]["files"]
        for relative in files:
            body = read_bytes(join(folder, relative))
            atomic_write(join(output, relative), lambda handle, b=body: handle.write(b))
        result["dedup_keys"] = old_stats["dedup_keys"]
        keep |= set(files)
    images = []
    if recipe.output.report:
        from pipelines.report import REPORT_FILE, write_report
        from pipelines.report.table_summary import summarize_table

        summary, clusters = summarize_table(table, recipe)
        images = write_report(output, result, summary, clusters, recipe, annotate_only)
        keep |= {REPORT_FILE, *images}
    took("report")
    write.remove_stale(output, keep)
    write_text(join(output, "stats.json"), json.dumps(result, indent=2) + "\n")
    write_text(join(output, "recipe.yaml"), recipe.to_yaml())
    write_text(join(output, "README.md"), card.render_card(recipe, result, annotate_only, images))
    took("finish")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.redecide", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", metavar="OUTPUT", help="the folder of an annotate-only run (local or cloud)")
    parser.add_argument("--output", required=True, help="the new dataset folder")
    parser.add_argument("--recipe", help="the recipe to apply (default: OUTPUT's recipe.yaml, with --set applied)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one recipe value, e.g. --set quality.rules.low='score >= 0.3'; repeatable")
    parser.add_argument("--annotate_only", action="store_true",
                        help="write every row with its new decision (so it can be re-decided again), not only the kept")
    args = parser.parse_args(argv)
    from pipelines.run import _overrides

    started = time.perf_counter()
    source = args.source.rstrip("/") or "/"
    output = args.output.rstrip("/") or "/"
    try:
        recipe = load_recipe(args.recipe or join(source, "recipe.yaml"), _overrides(args.set))
        timings: dict = {}
        result = redecide(source, output, recipe, args.annotate_only, timings)
    except (RedecideError, RecipeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    read = result["read"]
    print(f"{result['redecided_from']['plan']}\nrecipe {recipe.name} ({recipe.hash}): {read:,} documents in "
          f"{elapsed:.1f} s ({read / max(elapsed, 1e-9):,.0f}/s; {', '.join(f'{k} {v:.2f}' for k, v in timings.items())})"
          f"\n{stats.format_funnel(result)}\n\nwrote {result['output']['rows']:,} documents to {output}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
