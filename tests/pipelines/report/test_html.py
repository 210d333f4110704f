"""report.html from a real run: self-contained, complete, escaped, and rendered by a real browser."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from pipelines.registry import enabled_stages
from pipelines.recipe import load_recipe
from pipelines.run import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def run(data_dir, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("report")
    assert main(["--input", str(data_dir / "mini.warc.gz"), "--output", str(out), "-q"]) == 0
    return out, json.loads((out / "stats.json").read_text())


def _expected_charts(stats: dict) -> set[str]:
    """Every chart the default recipe's report must hold for this run."""
    recipe = load_recipe(None)
    scores = {f"{spec.name}.{s}" for spec, _ in enabled_stages(recipe) for s in spec.scores} - {"pii.phones"}  # off
    return scores | {"funnel", "words", "tokens", "languages", "buckets"} | (
        {"exact-clusters"} if stats["dropped"].get("dedup:exact") else set())


def test_the_report_is_one_self_contained_file(run):
    out, stats = run
    html = (out / "report.html").read_text()
    assert "<script" not in html and "<link" not in html and "@import" not in html and "url(" not in html
    assert not re.search(r"""\ssrc=""", html)  # nothing to fetch: every chart is inline SVG
    charts = set(re.findall(r'data-chart="([^"]+)"', html))
    assert charts >= _expected_charts(stats), _expected_charts(stats) - charts
    for reason, n in stats["dropped"].items():  # every reason in the funnel, with an example
        assert f"{reason}</text>" in html or f"{reason[:20]}" in html
        assert f"Dropped: <code>{reason}</code>" in html
    assert f"{stats['read']:,}" in html and f"{stats['kept']:,}" in html


def test_page_text_is_escaped(run):
    from pipelines.report.html import render_report
    from pipelines.report.summary import summarize

    out, stats = run
    doc = {"id": "0" * 32, "url": "https://x.example/?a=<b>", "source": "s", "decision": None,
           "text": "<script>alert(1)</script> & friends", "scores": {}}
    html = render_report(stats, summarize([doc]).to_dict(), {}, load_recipe(None), False)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends" in html
    assert 'href="https://x.example/?a=&lt;b&gt;"' in html


def test_the_card_embeds_the_main_charts(run):
    out, _ = run
    card = (out / "README.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", card)
    assert images == ["report/funnel.png", "report/length.png", "report/languages.png"]
    for image in images:
        assert (out / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (Debian: apt-get install chromium; .ci/run does)")
@pytest.mark.parametrize("width", [1280, 390])  # a laptop, a phone
def test_chromium_renders_every_chart_without_errors(run, tmp_path, width):
    sync_api = pytest.importorskip("playwright.sync_api")
    out, stats = run
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": width, "height": 900})
        messages: list[str] = []
        page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
        failed: list[str] = []
        page.on("requestfailed", lambda r: failed.append(r.url))
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto((out / "report.html").as_uri())
        boxes = page.eval_on_selector_all(
            "svg[data-chart]", "els => els.map(e => [e.dataset.chart, e.getBoundingClientRect().width, "
                               "e.getBoundingClientRect().height, e.querySelectorAll('rect').length])")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert messages == [] and failed == []
    assert requests == [(out / "report.html").as_uri()]  # the page fetched nothing else
    drawn = {name for name, w, h, _ in boxes if w > 100 and h > 15}
    assert drawn >= _expected_charts(stats), _expected_charts(stats) - drawn
    assert all(rects > 0 for name, _, _, rects in boxes if name in ("funnel", "words", "languages"))
    assert overflow <= 0  # nothing wider than the screen: wide tables and the funnel scroll in their box
    from PIL import Image

    image = Image.open(shot).convert("L")
    assert image.width == width and image.height > 3000
    low, high = image.getextrema()
    assert high - low > 150  # something drawn, not a blank page
