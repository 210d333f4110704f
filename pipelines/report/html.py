"""report.html: one self-contained page that shows what a run did to the corpus.

No script, no network: the charts are inline SVG (``charts.py``), the styles one ``<style>`` block, fonts the
reader's own. The same run gives the same bytes (no clock, sorted everything). Sections: the funnel (a bar
per reason and a table per input file), length in words and tokens, languages, CCNet buckets, duplicate
cluster sizes, every enabled stage's score distributions with the recipe's thresholds and the share each
rule fails and drops, then examples of what each reason dropped and of what was kept.
"""

from __future__ import annotations

from html import escape
from typing import Any

from pipelines.report import charts
from pipelines.report.charts import Mark

#: Input files listed one per row; a run over more lists the files with the most drops first.
MAX_FILE_ROWS = 200

_CSS = """
:root { --fg: #1d232a; --muted: #5b6570; --bg: #fff; --card: #f5f7f9; --line: #d5dbe1;
        --all: #b9cde4; --kept: #2f6db3; --mark: #c0392b; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e4e8ec; --muted: #9aa5b1; --bg: #14181c; --card: #1d2329; --line: #36404a;
          --all: #36516f; --kept: #6fa8e8; --mark: #ff7b6b; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       background: var(--bg); }
main { max-width: 1180px; margin: 0 auto; padding: 16px; }
h1 { font-size: 1.5em; margin: 0.2em 0; } h2 { font-size: 1.2em; margin: 1.6em 0 0.4em;
  border-bottom: 1px solid var(--line); padding-bottom: 4px; } h3 { font-size: 1em; margin: 0.8em 0 0.3em; }
.muted, .note { color: var(--muted); } p { margin: 0.4em 0; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 8px; margin: 12px 0; }
.fact { background: var(--card); border-radius: 6px; padding: 8px 10px; }
.fact b { display: block; font-size: 1.25em; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 12px; }
figure { margin: 0; background: var(--card); border-radius: 6px; padding: 8px; min-width: 0; }
figcaption { font-size: 0.85em; margin-bottom: 4px; overflow-wrap: anywhere; }
svg.chart { display: block; width: 100%; height: auto; font-size: 10px; fill: var(--fg); }
svg.bars { font-size: 11px; }
svg .all { fill: var(--all); } svg .kept { fill: var(--kept); }
svg .axis { stroke: var(--line); } svg .mark { stroke: var(--mark); stroke-width: 1.5; stroke-dasharray: 4 3; }
svg .mark-label { fill: var(--mark); font-size: 9px; } svg .tick, svg .note { fill: var(--muted); font-size: 9px; }
svg .empty { fill: var(--muted); text-anchor: middle; }
.legend span { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 10px; vertical-align: -1px; }
.scroll { overflow-x: auto; } .wide svg.chart { min-width: 520px; }
table { border-collapse: collapse; font-size: 0.88em; width: 100%; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.example { background: var(--card); border-radius: 6px; padding: 6px 10px; margin: 6px 0; }
.example a { font-size: 0.85em; overflow-wrap: anywhere; color: var(--kept); }
.example p { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.85em; margin: 4px 0 0; }
code { font-size: 0.92em; }
"""

_LEGEND = ('<p class="legend muted"><span style="background:var(--all)"></span>all documents that reached it'
           '<span style="background:var(--kept)"></span>kept<span style="background:var(--mark)"></span>'
           'a rule\'s threshold</p>')


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}%" if total else "–"


def _facts(stats: dict, annotate_only: bool) -> str:
    read, kept = stats["read"], stats["kept"]
    out = stats["output"]
    items = [("read", f"{read:,}"), ("kept", f"{kept:,} ({_pct(kept, read)})"),
             ("dropped", f"{sum(stats['dropped'].values()):,}"), ("errors", f"{sum(stats['errors'].values()):,}"),
             ("rows written", f"{out['rows']:,}"), ("text", f"{out['text_bytes'] / 1e6:,.1f} MB")]
    if stats.get("tokenizer"):
        items.append(("tokens" + (" kept" if annotate_only else ""), f"{out['tokens']:,}"))
    return '<div class="facts">' + "".join(f'<div class="fact"><b>{escape(v)}</b>{escape(k)}</div>'
                                           for k, v in items) + "</div>"


def _funnel(stats: dict) -> str:
    read = stats["read"]
    rows = [("kept", stats["kept"], stats["kept"])]
    rows += [(reason, n, None) for reason, n in stats["dropped"].items()]
    rows += [(f"error {reason}", n, None) for reason, n in stats["errors"].items()]
    chart = charts.bars("funnel", "Where every record read ended", rows, read, "records", width=720)
    skipped = stats.get("skipped_records") or {}
    note = (f'<p class="note">Non-document WARC records, not counted as read: '
            f'{escape(", ".join(f"{k} {v:,}" for k, v in skipped.items()))}</p>' if skipped else "")
    return (f"<h2 id=\"funnel\">Funnel</h2><p>Every record read ends in one outcome: read = kept + Σ dropped + "
            f"Σ errors ({read:,} = {stats['kept']:,} + {sum(stats['dropped'].values()):,} + "
            f"{sum(stats['errors'].values()):,}). A drop's reason is the first rule it failed, "
            f"<code>stage:rule</code>.</p><figure class=\"scroll wide\">{chart}</figure>{note}{_files(stats)}")


def _files(stats: dict) -> str:
    files = stats["files"]
    names = sorted(files)
    note = ""
    if len(names) > MAX_FILE_ROWS:
        names = sorted(names, key=lambda f: (-(files[f]["read"] - files[f]["kept"]), f))[:MAX_FILE_ROWS]
        note = (f'<p class="note">{len(files):,} input files; the {MAX_FILE_ROWS} with the most records not kept are '
                "listed (stats.json has every one).</p>")
    rows = []
    for name in names:
        entry = files[name]
        dropped, errors = sum(entry["dropped"].values()), sum(entry["errors"].values())
        top = sorted(entry["dropped"].items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        reasons = ", ".join(f"{r} {n:,}" for r, n in top)
        rows.append(f"<tr><td>{escape(name)}</td><td class=n>{entry['read']:,}</td><td class=n>{entry['kept']:,}</td>"
                    f"<td class=n>{dropped:,}</td><td class=n>{errors:,}</td><td>{escape(reasons)}</td></tr>")
    return (f"<h3>Per input file</h3>{note}<div class=scroll><table><thead><tr><th>file</th><th class=n>read</th>"
            "<th class=n>kept</th><th class=n>dropped</th><th class=n>errors</th><th>top drop reasons</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table></div>")


def _figure(caption: str, chart: str) -> str:
    return f"<figure><figcaption>{caption}</figcaption>{chart}</figure>"


def _corpus(summary: dict, clusters: dict[str, dict[int, int]]) -> str:
    figures = [_figure("Length in words (extracted documents; Gopher's count where it ran)",
                       charts.histogram("words", "Length in words", summary["words"]["all"], summary["words"]["kept"]))]
    if summary["tokens"]["kept"]:
        figures.append(_figure("Length in tokens (kept documents)",
                               charts.histogram("tokens", "Length in tokens", summary["tokens"]["kept"],
                                                summary["tokens"]["kept"])))
    languages = summary["languages"]
    if languages["all"]:
        rows = [(lang, n, languages["kept"].get(lang, 0)) for lang, n in list(languages["all"].items())[:15]]
        total = sum(languages["all"].values())
        figures.append(_figure(f"Languages (top {len(rows)} of {len(languages['all'])})",
                               charts.bars("languages", "Languages", rows, total)))
    buckets = summary["buckets"]
    if buckets["all"]:
        order = [b for b in ("head", "middle", "tail") if b in buckets["all"]] + sorted(
            b for b in buckets["all"] if b not in ("head", "middle", "tail"))
        rows = [(b, buckets["all"][b], buckets["kept"].get(b, 0)) for b in order]
        figures.append(_figure("CCNet perplexity buckets",
                               charts.bars("buckets", "CCNet perplexity buckets", rows, sum(buckets["all"].values()))))
    for kind, sizes in clusters.items():
        if sizes:
            rows = [(f"{size} copies", n, None) for size, n in sorted(sizes.items())[:20]]
            total = sum(sizes.values())
            figures.append(_figure(f"{kind.capitalize()}-duplicate cluster sizes ({total:,} clusters, one copy kept "
                                   "of each)", charts.bars(f"{kind}-clusters", f"{kind} duplicate clusters", rows, total,
                                                           "clusters")))
    return f"<h2 id=\"corpus\">The corpus</h2>{_LEGEND}<div class=grid>{''.join(figures)}</div>"


def _stages(summary: dict, stats: dict, recipe: Any) -> str:
    from pipelines.registry import enabled_stages

    sections = []
    rules = summary["rules"]
    for spec, _ in enabled_stages(recipe):
        if not spec.scores:
            continue
        scored = summary["scored"].get(spec.name, 0)
        mine = [r for r in rules if r["stage"] == spec.name]
        rows = "".join(
            f"<tr><td><code>{escape(r['reason'])}</code></td><td><code>{escape(r['score'])} {escape(r['op'])} "
            f"{charts.num(r['threshold'])}</code></td><td class=n>{r['fails']:,} ({_pct(r['fails'], scored)})</td>"
            f"<td class=n>{stats['dropped'].get(r['reason'], 0):,} ({_pct(stats['dropped'].get(r['reason'], 0), scored)})"
            "</td></tr>" for r in mine)
        table = ("<div class=scroll><table><thead><tr><th>rule</th><th>keeps when</th><th class=n>fails</th>"
                 "<th class=n>drops (first reason)</th></tr></thead><tbody>" + rows + "</tbody></table></div>"
                 if mine else '<p class="note">No rules: scores only.</p>')
        figures = []
        for score in spec.scores:
            key = f"{spec.name}.{score}"
            dist = summary["scores"].get(key)
            if dist is None or not dist["all"]:  # never measured (an option that is off, say pii.phones)
                continue
            marks = tuple(Mark(r["threshold"], f"{r['reason'].split(':', 1)[1]} {r['op']} {charts.num(r['threshold'])}")
                          for r in mine if r["score"] == score)
            unmeasured = f", {dist['unmeasured']:,} unmeasured" if dist["unmeasured"] else ""
            figures.append(_figure(f"<code>{escape(key)}</code>{unmeasured}",
                                   charts.histogram(key, key, dist["all"], dist["kept"], marks)))
        sections.append(f"<h3 id=\"stage-{escape(spec.name)}\">{escape(spec.name)} <span class=muted>— scored "
                        f"{scored:,} documents</span></h3>{table}<div class=grid>{''.join(figures)}</div>")
    if not sections:
        return ""
    return (f"<h2 id=\"scores\">Scores by stage</h2><p>Each stage scores the documents that reach it (all of them in "
            "an annotate-only run). <em>Fails</em> counts the scored documents on the wrong side of a rule; "
            f"<em>drops</em> those for which it was the first rule failed.</p>{_LEGEND}{''.join(sections)}")


def _examples(summary: dict, stats: dict) -> str:
    examples = summary["examples"]
    parts = []
    order = list(stats["dropped"]) + sorted(r for r in examples if r not in stats["dropped"] and r != "keep")
    for reason in ["keep"] + order:
        shown = examples.get(reason)
        if not shown:
            continue
        title = "Kept" if reason == "keep" else f"Dropped: <code>{escape(reason)}</code>"
        items = "".join(
            f'<div class="example"><a href="{escape(e["url"])}" rel="noreferrer nofollow">{escape(e["url"] or e["id"])}</a>'
            + (f' <span class="muted">{escape(e["why"])}</span>' if e["why"] else "")
            + f"<p>{escape(e['text']) if e['text'] else '<span class=muted>(no text: dropped before extraction)</span>'}"
            "</p></div>" for e in shown)
        parts.append(f"<h3>{title}</h3>{items}")
    return ("<h2 id=\"examples\">Examples</h2><p>The documents with the smallest ids of each outcome (ids are hashes: "
            "a fair, repeatable sample); the first characters of the text as it was scored.</p>" + "".join(parts))


def render_report(stats: dict, summary: dict, clusters: dict[str, dict[int, int]], recipe: Any,
                  annotate_only: bool) -> str:
    """The whole page. ``stats``: stats.json's funnel; ``summary``: ``Summary.to_dict()``; ``clusters``:
    {"exact"/"near": {cluster size: clusters}}."""
    from pipelines.stats import format_synthetic

    mode = "annotate-only: every document written with its decision" if annotate_only else "filter"
    synth = stats.get("synthetic")
    synthetic = (f"<h2 id=\"synthetic\">Synthetic rewrites</h2><pre>{escape(chr(10).join(format_synthetic(synth)))}"
                 "</pre>" if synth else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(recipe.name)} — run report</title><style>{_CSS}</style></head>
<body><main>
<h1>Run report: {escape(recipe.name)}</h1>
<p class="muted">Recipe <code>{escape(recipe.hash)}</code> ({escape(mode)}); the recipe is in recipe.yaml, every
count in stats.json. <a href="#funnel">Funnel</a> · <a href="#corpus">Corpus</a> · <a href="#scores">Scores</a> ·
<a href="#examples">Examples</a></p>
{_facts(stats, annotate_only)}
{_funnel(stats)}
{_corpus(summary, clusters)}
{_stages(summary, stats, recipe)}
{synthetic}
{_examples(summary, stats)}
</main></body></html>
"""
