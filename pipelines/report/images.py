"""The report's main charts as PNG files beside the dataset card (the Hub shows images, not inline SVG).

Drawn with matplotlib's object API (no pyplot: no global state, safe in a worker thread) on the Agg
backend, with the PNG's "Software" stamp removed, so the same run gives the same bytes. The bins are the
report's own (``charts.choose_bins``), so the card and report.html show the same histogram.
"""

from __future__ import annotations

import io

from pipelines.report import charts

#: Relative paths of the images, by chart; the card links them in this order.
FOLDER = "report"
ALL_COLOR, KEPT_COLOR, MARK_COLOR = "#b9cde4", "#2f6db3", "#c0392b"


def _figure(height: float = 3.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.0, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _hbars(title: str, rows: list[tuple[str, int, int | None]], total: int) -> bytes:
    height = 0.8 + 0.28 * len(rows)
    figure = _figure(height)
    # Fixed margins, not a tight bounding box (which draws the figure twice): room for 30-character labels.
    figure.subplots_adjust(left=0.33, right=0.97, top=1 - 0.35 / height, bottom=0.3 / height)
    ax = figure.add_subplot()
    labels = [label for label, _, _ in rows][::-1]
    values = [value for _, value, _ in rows][::-1]
    kept = [k or 0 for _, _, k in rows][::-1]
    ax.barh(labels, values, color=ALL_COLOR)
    ax.barh(labels, kept, color=KEPT_COLOR)
    for y, value in enumerate(values):
        ax.text(value, y, f" {value:,} ({100 * value / total:.1f}%)" if total else f" {value:,}", va="center",
                fontsize=8)
    ax.set_title(title, fontsize=10, loc="left")
    ax.tick_params(labelsize=8)
    ax.margins(x=0.25)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _png(figure)


def _histogram(title: str, dist: list, kept: list) -> bytes | None:
    bins = charts.choose_bins(dist)
    if bins is None:
        return None
    figure = _figure()
    figure.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.12)
    ax = figure.add_subplot()
    edges = list(bins.edges)
    counts, kept_counts = charts.bin_counts(dist, bins), charts.bin_counts(kept, bins)
    widths = [b - a for a, b in zip(edges, edges[1:])]
    ax.bar(edges[:-1], counts, width=widths, align="edge", color=ALL_COLOR, label="all")
    ax.bar(edges[:-1], kept_counts, width=widths, align="edge", color=KEPT_COLOR, label="kept")
    if bins.log:
        ax.set_xscale("log")
    ax.set_title(title, fontsize=10, loc="left")
    ax.legend(fontsize=8, frameon=False)
    ax.tick_params(labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _png(figure)


def card_images(stats: dict, summary: dict) -> dict[str, bytes]:
    """{relative path: PNG bytes}: the funnel, length in words and the languages (those with data)."""
    reasons = list(stats["dropped"].items())
    rows = [("kept", stats["kept"], stats["kept"])] + [(r, n, None) for r, n in reasons[:14]]
    if len(reasons) > 14:
        rows.append((f"{len(reasons) - 14} other reasons", sum(n for _, n in reasons[14:]), None))
    if sum(stats["errors"].values()):
        rows.append(("errors", sum(stats["errors"].values()), None))
    images = {f"{FOLDER}/funnel.png": _hbars("Where every record read ended", rows, stats["read"])}
    words = _histogram("Length in words: all extracted documents and kept ones", summary["words"]["all"],
                       summary["words"]["kept"])
    if words is not None:
        images[f"{FOLDER}/length.png"] = words
    languages = summary["languages"]
    if languages["all"]:
        rows = [(lang, n, languages["kept"].get(lang, 0)) for lang, n in list(languages["all"].items())[:10]]
        images[f"{FOLDER}/languages.png"] = _hbars("Languages (kept in dark)", rows, sum(languages["all"].values()))
    return images
