"""Inline SVG charts: bins that fit the data and the thresholds, round ticks, escaped text."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from pipelines.report import charts
from pipelines.report.charts import Mark, bin_counts, choose_bins


def test_bins_are_log_over_decades_linear_otherwise_and_integer_for_small_counts():
    words = [[float(v), 1] for v in (10, 30, 100, 300, 1000, 3000, 10000)]
    assert choose_bins(words).log
    fractions = [[v / 100, 1] for v in range(101)]
    bins = choose_bins(fractions)
    assert not bins.log and bins.edges[0] == 0.0 and bins.edges[-1] == 1.0
    flags = [[0.0, 90], [1.0, 10]]
    assert choose_bins(flags).edges == (-0.5, 0.5, 1.5)
    assert choose_bins([]) is None


def test_a_threshold_outside_the_data_widens_the_range():
    bins = choose_bins([[v / 10, 1] for v in range(5)], marks=(2.0,))
    assert bins.edges[0] == 0.0 and bins.edges[-1] >= 2.0


def test_every_value_lands_in_a_bin_and_the_tails_are_reported():
    dist = [[float(v), 1] for v in range(1000)] + [[1e6, 1]]
    bins = choose_bins(dist)
    assert sum(bin_counts(dist, bins)) == len(dist)
    assert bins.clipped_high >= 1


def test_histogram_is_well_formed_svg_with_bars_ticks_and_marks():
    dist = [[float(v), 1 + v % 3] for v in range(100)]
    kept = [[v, n] for v, n in dist if v >= 20]
    svg = charts.histogram("gopher.word_count", "word <count> & more", dist, kept, (Mark(20.0, "min_words >= 20"),))
    root = ET.fromstring(svg)  # parses: well-formed XML, every label escaped
    ns = "{http://www.w3.org/2000/svg}"
    assert root.get("data-chart") == "gopher.word_count"
    assert len(root.findall(f"{ns}rect[@class='all']") or root.findall("rect[@class='all']")) > 10
    assert "min_words &gt;= 20" in svg and "word &lt;count&gt; &amp; more" in svg
    ticks = [t.text for t in root.iter() if t.get("class") == "tick"]
    assert "0" in ticks and "20" in ticks and "40" in ticks  # round values: multiples of 1, 2 or 5 × 10^k
    assert charts.histogram("x", "x", dist, kept) == charts.histogram("x", "x", dist, kept)  # same bytes


def test_bars_show_values_and_shares():
    svg = charts.bars("funnel", "f", [("kept", 60, 60), ("c4:<curly>", 40, None)], 100)
    ET.fromstring(svg)
    assert "60 (60.0%)" in svg and "c4:&lt;curly&gt;" in svg


def test_numbers_are_short_and_stable():
    assert [charts.num(v) for v in (0, 0.123456, 12345.0, 1234567.8, 2.5)] == ["0", "0.123", "12,345", "1,234,568", "2.5"]
