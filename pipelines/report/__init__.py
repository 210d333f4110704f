"""The run report: report.html in every output folder, and the main charts as PNGs for the dataset card.

``summary.py`` counts what the report shows in one pass over the decided documents (``transforms.py`` is
its Beam wrapper), ``html.py`` renders the page with ``charts.py``'s inline SVG, ``images.py`` draws the
card's PNGs. ``write_report`` writes both, from the pipeline's last step or from ``pipelines.redecide``.
"""

from __future__ import annotations

from typing import Any

REPORT_FILE = "report.html"


def clusters_of(triples: list[tuple[str, int, int]]) -> dict[str, dict[int, int]]:
    """(kind, cluster size, clusters) triples → {kind: {size: clusters}}, sorted."""
    result: dict[str, dict[int, int]] = {"exact": {}, "near": {}}
    for kind, size, n in sorted(triples):
        result.setdefault(kind, {})[size] = n
    return result


def write_report(output: str, stats: dict, summary: dict, clusters: dict[str, dict[int, int]], recipe: Any,
                 annotate_only: bool) -> list[str]:
    """report.html and the card's PNGs into ``output``; returns the PNGs' relative paths (for the card)."""
    from pipelines.report.html import render_report
    from pipelines.report.images import card_images
    from schemas.files import atomic_write, join, write_text

    images = card_images(stats, summary)
    for relative, body in images.items():
        atomic_write(join(output, relative), lambda f, b=body: f.write(b))
    write_text(join(output, REPORT_FILE), render_report(stats, summary, clusters, recipe, annotate_only))
    return list(images)
