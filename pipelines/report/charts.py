"""Inline SVG charts for report.html: horizontal bars and histograms with thresholds drawn.

Written by hand rather than with a plotting library because these charts live inside one HTML file that
must scale from a phone to a laptop and follow its stylesheet: a viewBox-scaled ``<svg>`` of a few hundred
bytes per chart, styled by CSS classes, with a ``<title>`` tooltip on every bar. A plotting library's SVG
is fixed-size and tens of kilobytes a chart (every glyph a path), and takes tens of milliseconds to draw.
The PNGs for the dataset card do use matplotlib (``pipelines/report/images.py``).

Every function is pure: data in, markup out, numbers formatted the same way every time (deterministic
bytes).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from html import escape

WIDTH = 360  # viewBox width of a histogram; CSS scales it to its box
HEIGHT = 170
_LEFT, _RIGHT, _TOP, _BOTTOM = 40, 10, 22, 34


def num(value: float) -> str:
    """A number for a label: short, stable across runs (3 significant digits, thousands separated)."""
    if value == 0:
        return "0"
    if abs(value) >= 1000 and float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 10_000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _f(value: float) -> str:
    """A coordinate: one decimal, no trailing zero."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


@dataclass(frozen=True)
class Bins:
    """Histogram bin edges over a distribution; ``log`` when its values span more than two decades."""

    edges: tuple[float, ...]
    log: bool
    clipped_low: int  # values below the first edge, counted in the first bin
    clipped_high: int  # values above the last edge, counted in the last bin

    def index(self, value: float) -> int:
        return min(max(bisect.bisect_right(self.edges, value) - 1, 0), len(self.edges) - 2)

    def x(self, value: float, width: float) -> float:
        """Where ``value`` falls on an axis ``width`` wide."""
        lo, hi = self.edges[0], self.edges[-1]
        if self.log:
            value, lo, hi = (math.log10(max(v, 1e-12)) for v in (value, lo, hi))
        return 0.0 if hi == lo else (value - lo) / (hi - lo) * width


def _quantile(dist: list[list[float]], q: float) -> float:
    total = sum(n for _, n in dist)
    target, seen = q * total, 0
    for value, n in dist:
        seen += n
        if seen >= target:
            return value
    return dist[-1][0]


def choose_bins(dist: list[list[float]], marks: tuple[float, ...] = (), count: int = 30) -> Bins | None:
    """Bins for ``dist`` ([value, n] sorted by value): from its 0.5th to its 99.5th percentile (a long tail
    would squeeze everything else into one bar), widened to show every threshold in ``marks``; integer
    data gets integer-wide bins when they fit."""
    if not dist:
        return None
    lo, hi = _quantile(dist, 0.005), _quantile(dist, 0.995)
    for mark in marks:
        lo, hi = min(lo, mark), max(hi, mark)
    integers = all(float(v).is_integer() for v, _ in dist)
    log = lo > 0 and hi / lo > 100
    if hi == lo:
        hi = lo + 1
    if log:
        a, b = math.log10(lo), math.log10(hi)
        edges = [10 ** (a + (b - a) * i / count) for i in range(count + 1)]
    elif integers and hi - lo + 1 <= count:
        edges = [lo + i - 0.5 for i in range(int(hi - lo) + 2)]
    else:
        edges = [lo + (hi - lo) * i / count for i in range(count + 1)]
    edges[-1] = max(edges[-1], hi)  # the top value lands in the last bin, not past it
    low = sum(n for v, n in dist if v < edges[0])
    high = sum(n for v, n in dist if v > edges[-1])
    return Bins(tuple(edges), log, low, high)


def bin_counts(dist: list[list[float]], bins: Bins) -> list[int]:
    counts = [0] * (len(bins.edges) - 1)
    for value, n in dist:
        counts[bins.index(value)] += n
    return counts


@dataclass(frozen=True)
class Mark:
    """A threshold to draw: its value, a short label (the rule) and whether values below it are dropped."""

    value: float
    label: str


def histogram(chart_id: str, title: str, dist: list[list[float]], kept: list[list[float]] | None = None,
              marks: tuple[Mark, ...] = (), unit: str = "documents") -> str:
    """All values as light bars, the kept ones as dark bars over them, thresholds as dashed lines."""
    bins = choose_bins(dist, tuple(m.value for m in marks))
    head = f'<svg class="chart" data-chart="{escape(chart_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"'
    if bins is None:
        return (f'{head} aria-label="{escape(title)}: no values"><title>{escape(title)}</title>'
                f'<text class="empty" x="{WIDTH // 2}" y="{HEIGHT // 2}">no values</text></svg>')
    counts = bin_counts(dist, bins)
    kept_counts = bin_counts(kept, bins) if kept is not None else None
    width, height = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    top = max(counts) or 1
    parts = [f'{head} aria-label="{escape(title)}"><title>{escape(title)}</title>',
             f'<line class="axis" x1="{_LEFT}" y1="{_TOP + height}" x2="{_LEFT + width}" y2="{_TOP + height}"/>',
             f'<text class="tick" x="{_LEFT - 4}" y="{_TOP + 4}" text-anchor="end">{num(top)}</text>',
             f'<text class="tick" x="{_LEFT - 4}" y="{_TOP + height}" text-anchor="end">0</text>']
    step = width / len(counts)
    for i, n in enumerate(counts):
        lo, hi = bins.edges[i], bins.edges[i + 1]
        x = _LEFT + i * step
        tip = f"{num(lo)} – {num(hi)}: {n:,} {unit}"
        if kept_counts is not None:
            tip += f", {kept_counts[i]:,} kept"
        if n:
            h = n / top * height
            parts.append(f'<rect class="all" x="{_f(x)}" y="{_f(_TOP + height - h)}" width="{_f(max(step - 1, 0.5))}" '
                         f'height="{_f(h)}"><title>{escape(tip)}</title></rect>')
        if kept_counts is not None and kept_counts[i]:
            h = kept_counts[i] / top * height
            parts.append(f'<rect class="kept" x="{_f(x)}" y="{_f(_TOP + height - h)}" '
                         f'width="{_f(max(step - 1, 0.5))}" height="{_f(h)}"><title>{escape(tip)}</title></rect>')
    for value in _ticks(bins):
        x = _LEFT + bins.x(value, width)
        parts.append(f'<text class="tick" x="{_f(x)}" y="{_TOP + height + 13}" text-anchor="middle">{num(value)}</text>')
    for j, mark in enumerate(marks):
        x = _LEFT + bins.x(mark.value, width)
        parts.append(f'<line class="mark" x1="{_f(x)}" y1="{_TOP - 4}" x2="{_f(x)}" y2="{_TOP + height}"/>')
        anchor = "end" if x > _LEFT + width * 0.6 else "start"
        dx = -3 if anchor == "end" else 3
        parts.append(f'<text class="mark-label" x="{_f(x + dx)}" y="{_TOP + 6 + 10 * j}" text-anchor="{anchor}">'
                     f'{escape(mark.label)}</text>')
    notes = []
    if bins.clipped_low:
        notes.append(f"{bins.clipped_low:,} below")
    if bins.clipped_high:
        notes.append(f"{bins.clipped_high:,} above")
    scale = "log scale" if bins.log else ""
    foot = "; ".join(filter(None, [scale, ", ".join(notes) + (" the range, in the end bars" if notes else "")]))
    if foot:
        parts.append(f'<text class="note" x="{_LEFT + width}" y="{HEIGHT - 3}" text-anchor="end">{escape(foot)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _ticks(bins: Bins) -> list[float]:
    """Round values to label the axis with: powers of ten on a log axis, else multiples of 1, 2 or 5 × 10^k
    (four to eight of them)."""
    lo, hi = bins.edges[0], bins.edges[-1]
    if bins.log:
        return [10.0 ** e for e in range(math.ceil(math.log10(lo)), math.floor(math.log10(hi)) + 1)] or [lo, hi]
    raw = (hi - lo) / 5
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def bars(chart_id: str, title: str, rows: list[tuple[str, int, int | None]], total: int | None = None,
         unit: str = "documents", width: int = WIDTH) -> str:
    """Horizontal bars, one per (label, value, kept or None), the kept share drawn over each bar; the label
    and value (with its share of ``total``) written beside it. ``width``: of the viewBox, in pixels at the
    size the page is meant to show it (text is 11 px at that size)."""
    row_h, value_w = 18, 96
    label_w = min(max(len(label) for label, _, _ in rows) * 6.5 + 10, width * 0.45) if rows else 40
    height = row_h * len(rows) + 6
    top = max((v for _, v, _ in rows), default=0) or 1
    span = width - label_w - value_w
    parts = [f'<svg class="chart bars" data-chart="{escape(chart_id)}" viewBox="0 0 {width} {height}" '
             f'style="max-width:{width}px" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for i, (label, value, kept) in enumerate(rows):
        y = 3 + i * row_h
        share = f" ({100 * value / total:.1f}%)" if total else ""
        tip = f"{label}: {value:,} {unit}{share}" + (f", {kept:,} kept" if kept is not None else "")
        fits = int((label_w - 10) / 6.5)
        short = label if len(label) <= fits else label[:fits - 1] + "…"
        parts.append(f'<g><title>{escape(tip)}</title>'
                     f'<text class="label" x="{_f(label_w - 6)}" y="{y + 12}" text-anchor="end">{escape(short)}</text>')
        w = value / top * span
        box = f'x="{_f(label_w)}" y="{y + 2}" height="{row_h - 5}"'
        parts.append(f'<rect class="all" {box} width="{_f(max(w, 0.5 if value else 0))}"/>')
        if kept:
            parts.append(f'<rect class="kept" {box} width="{_f(kept / top * span)}"/>')
        parts.append(f'<text class="value" x="{_f(label_w + w + 4)}" y="{y + 12}">{value:,}{share}</text></g>')
    parts.append("</svg>")
    return "".join(parts)
