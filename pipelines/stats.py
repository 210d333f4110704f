"""The funnel: how many records were read, kept, dropped (per reason) and failed (per reason).

Every record read ends in exactly one outcome, so ``read = kept + Σ dropped + Σ errors`` holds per
file and in total; ``check_identity`` verifies it rather than assuming it. Non-document WARC records
(warcinfo, request, metadata) are listed separately and are not "read" documents.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Iterable

from schemas.outcomes import is_kept

KEPT, DROPPED, ERROR, SKIPPED = "kept", "dropped", "error", "skipped"

Outcome = tuple[str, str, str]  # (source file, kind, reason)


def outcome_of(doc: dict) -> Outcome:
    return (doc["source"], KEPT, "") if is_kept(doc) else (doc["source"], DROPPED, doc["decision"])


def _empty_file() -> dict:
    return {"read": 0, "kept": 0, "dropped": {}, "errors": {}, "skipped_records": {}}


def build_stats(counts: Iterable[tuple[Outcome, int]]) -> dict:
    """Aggregate outcome counts into the funnel, overall and per input file (sorted, deterministic)."""
    files: dict[str, dict] = defaultdict(_empty_file)
    dropped: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    kept = 0
    for (source, kind, reason), n in counts:
        entry = files[source]
        if kind == SKIPPED:
            skipped[reason] += n
            entry["skipped_records"][reason] = entry["skipped_records"].get(reason, 0) + n
            continue
        entry["read"] += n
        if kind == KEPT:
            kept += n
            entry["kept"] += n
        elif kind == DROPPED:
            dropped[reason] += n
            entry["dropped"][reason] = entry["dropped"].get(reason, 0) + n
        else:
            errors[reason] += n
            entry["errors"][reason] = entry["errors"].get(reason, 0) + n
    for entry in files.values():
        for key in ("dropped", "errors", "skipped_records"):
            entry[key] = dict(sorted(entry[key].items()))
    read = kept + sum(dropped.values()) + sum(errors.values())
    return {
        "read": read,
        "kept": kept,
        "dropped": dict(sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0]))),
        "errors": dict(sorted(errors.items(), key=lambda kv: (-kv[1], kv[0]))),
        "skipped_records": dict(sorted(skipped.items())),
        "files": dict(sorted(files.items())),
    }


def check_identity(stats: dict) -> list[str]:
    """Files (or the total) where read != kept + Σ dropped + Σ errors; empty when the books balance."""
    problems = []
    for name, entry in [("(total)", stats)] + list(stats["files"].items()):
        balance = entry["kept"] + sum(entry["dropped"].values()) + sum(entry["errors"].values())
        if entry["read"] != balance:
            problems.append(f"{name}: read {entry['read']} != kept + dropped + errors {balance}")
    return problems


def format_funnel(stats: dict) -> str:
    """The end-of-run summary printed to the terminal."""
    read = stats["read"] or 1
    lines = [f"{'read':<34}{stats['read']:>10}", f"{'kept':<34}{stats['kept']:>10}  {100 * stats['kept'] / read:5.1f}%"]
    for title, group in (("dropped", stats["dropped"]), ("errors", stats["errors"])):
        total = sum(group.values())
        lines.append(f"{title:<34}{total:>10}  {100 * total / read:5.1f}%")
        lines += [f"  {reason:<32}{n:>10}  {100 * n / read:5.1f}%" for reason, n in group.items()]
    if stats["skipped_records"]:
        skipped = ", ".join(f"{k} {v}" for k, v in stats["skipped_records"].items())
        lines.append(f"(non-document WARC records, not counted as read: {skipped})")
    index = stats.get("near_dedup_index")
    if index:
        lines.append(f"near-dedup index {index['path']}: generation {index['generation']}, {index['documents']:,} "
                     f"documents (+{index['documents_added']:,}), capacity {index['capacity']:,}"
                     + (" — OVER CAPACITY" if index["over_capacity"] else ""))
    if stats.get("synthetic"):
        lines += format_synthetic(stats["synthetic"])
    return "\n".join(lines)


def with_corpus_checks(synth: dict, outcomes: list[tuple[str, int]], sources: list[int] = ()) -> dict:
    """The synthesis stats with the corpus's checks added: ``corpus_checks`` (decision -> rewrites, of
    the rewrites that passed synthesis's own checks: ``keep`` or the language / heuristic / dedup / PII
    reason) and ``synthetic_documents`` = what is kept after them. ``expansion.documents`` and the
    ``funnel`` (selected → pairs → rewrites → passed the synthesis checks → kept) follow;
    ``sources_expanded`` becomes the selected documents with a rewrite kept after them (``sources``)."""
    counts = dict(outcomes)
    checks = {"keep": counts.pop("keep", 0), **dict(sorted(counts.items()))}
    passed = synth["rewrite_outcomes"].get("keep", 0)
    kept = checks["keep"] if outcomes else passed
    selected = synth["documents_selected"]
    expanded = sources[0] if sources else synth["sources_expanded"]
    return {
        **synth,
        "corpus_checks": checks if outcomes else {"keep": passed},
        "synthetic_documents": kept,
        "sources_expanded": expanded,
        "expansion": {**synth["expansion"], "documents": kept / selected if selected else None},
        "funnel": {"documents_selected": selected, "pairs": synth["pairs_kept"], "rewrites": synth["rewrites"],
                   "passed_synthesis_checks": passed, "kept": kept,
                   "documents_with_a_rewrite": expanded},
    }


def format_synthetic(synth: dict) -> list[str]:
    """The synthesis branch's funnel: selected sources → pairs → rewrites by outcome → expansion."""
    def ratio(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}x"

    unit = "tokens" if synth.get("tokens_in") is not None else "words"
    lines = [
        f"synthetic ({synth['backend']} {synth['model']})",
        f"  {'documents selected':<32}{synth['documents_selected']:>10}  of {synth['documents_in']} kept",
        f"  {'pairs proposed by the model':<32}{synth['pairs_proposed']:>10}",
        f"  {'pairs used (from the catalogue)':<32}{synth['pairs_kept']:>10}  ({synth.get('pairs_catalogue', 0)}; "
        f"{synth.get('pairs_retried', 0)} in retry rounds)",
        f"  {'rewrites':<32}{synth['rewrites']:>10}",
    ]
    lines += [f"    {outcome:<30}{n:>10}" for outcome, n in synth["rewrite_outcomes"].items()]
    if "corpus_checks" in synth:
        lines.append(f"  {'then the corpus checks':<32}{synth['rewrite_outcomes'].get('keep', 0):>10}")
        lines += [f"    {outcome:<30}{n:>10}" for outcome, n in synth["corpus_checks"].items()]
    lines.append(f"  {'documents with a kept rewrite':<32}{synth['sources_expanded']:>10}  of {synth['documents_selected']}")
    lines.append(f"  {'tokens generated / kept':<32}{synth.get('generated_tokens', 0):>10} / {synth.get('tokens_out')}")
    lines.append(f"  {'expansion':<32}{ratio(synth['expansion']['documents']):>10} documents, "
                 f"{ratio(synth['expansion'][unit])} {unit} (out per selected in)")
    return lines


def output_summary(shards: list[dict], errors_file: str) -> dict:
    """stats.json's ``output``: rows, text bytes and tokens of the dataset (counted once: its Parquet
    shards, else its Arrow ones), every shard written and the errors file."""
    primary = ([s for s in shards if s["file"].endswith(".parquet")]
               or [s for s in shards if s["file"].endswith(".arrow")])
    return {
        "rows": sum(s["rows"] for s in primary),
        "text_bytes": sum(s["text_bytes"] for s in primary),
        "tokens": sum(s["tokens"] for s in primary),
        "shards": shards,
        "errors_file": errors_file,
    }


def token_shards(infos: list[dict], config: str, tokenizer: dict) -> dict:
    """The token shards of one dataset config (``data`` or ``synthetic``) per format: folder, token dtype,
    documents and tokens (markers included), and the files."""
    from pipelines.token_shards import dtype_of

    summary = {}
    for fmt in sorted({i["format"] for i in infos}):
        folder = f"{fmt}/{config}"
        mine = [i for i in infos if i["format"] == fmt and i["stem"].startswith(folder + "/")]
        if not mine:
            continue
        stems = {i["stem"]: i for i in mine}.values()  # each shard's counts once, not once per file
        summary[fmt] = {
            "folder": folder,
            "dtype": dtype_of(fmt, tokenizer["vocab_size"]).name,
            "documents": sum(i["documents"] for i in stems),
            "tokens": sum(i["tokens"] for i in stems),
            "files": [{"file": i["file"], "bytes": i["bytes"]} for i in mine],
        }
    return summary
