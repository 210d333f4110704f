"""Issue 18's out-of-the-box case: ``--synth`` with the embedded SmolLM2-135M and the default recipe on three
real Wikipedia articles writes synthetic rows for at least half of the selected documents, after
synthesis's own checks and the corpus's (language, heuristics, dedup, PII). ~5 minutes on two cores."""

from __future__ import annotations

import gzip
import json
import re

import pyarrow.parquet as pq
import pytest

from pipelines.run import main

pytestmark = pytest.mark.slow

ARTICLES = ("Albedo", "Arithmetic mean", "International Atomic Time")
_DOC = re.compile(r'<doc id="(\d+)" url="([^"]+)" title="([^"]+)">\n(.*?)</doc>', re.S)


@pytest.fixture(scope="module")
def three_articles(shared_data, tmp_path_factory):
    """The three articles (Wikipedia 2015, CC BY-SA) as JSONL, from ../shared/data."""
    text = gzip.decompress((shared_data / "quality/wikipedia-en-2015/wiki_00.gz").read_bytes()).decode("utf-8")
    found = {title: (i, url, body.strip()) for i, url, title, body in _DOC.findall(text)}
    path = tmp_path_factory.mktemp("wiki") / "three.jsonl"
    path.write_text("".join(json.dumps({"id": f"enwiki-{found[t][0]}", "url": found[t][1], "text": found[t][2]}) + "\n"
                            for t in ARTICLES))
    return path


def test_the_embedded_model_yields_for_half_of_the_selected_documents(local_lm, three_articles, tmp_path):
    out = tmp_path / "out"
    assert main(["--input", str(three_articles), "--output", str(out), "--synth", "-q"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    synth = stats["synthetic"]
    funnel = synth["funnel"]
    assert funnel["documents_selected"] == 2  # the default recipe's smoke-test cap
    assert 2 * funnel["documents_with_a_rewrite"] >= funnel["documents_selected"]
    # 5 pairs each, and 5 more for a document whose rewrites all failed (the retry round)
    assert funnel["pairs"] == funnel["rewrites"] == 10 + synth["pairs_retried"]
    assert funnel["kept"] == synth["output"]["rows"] >= 1
    rows = pq.read_table(out / "synthetic").to_pylist()
    assert len({r["provenance"]["source_id"] for r in rows}) == funnel["documents_with_a_rewrite"]
    card = (out / "README.md").read_text()
    assert "then the corpus checks" in card and "documents with a kept rewrite" in card
