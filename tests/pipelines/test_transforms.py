"""The read and extract stages as Beam transforms (TestPipeline + assert_that) on a real WARC file.

Both keep the stage contract: ``docs``, ``dropped`` (light records with a ``read:`` / ``extract:``
reason) and ``errors``; Read also hands on the ``skipped`` non-document records. What they emit must
be what the pure reader and extractor make of the same file.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines import readers
from pipelines.extract import ExtractConfig, extract_html
from pipelines.readers import ReadConfig, TextColumns
from pipelines.transforms import ExtractText, Read
from schemas.outcomes import DOCS, DROPPED, ERRORS, SKIPPED

CONFIG = ReadConfig()


def _pure(path: str) -> list:
    return list(readers.read_warc(path, lambda: open(path, "rb"), max_record_bytes=CONFIG.max_record_bytes))


def _read(p, path: str, annotate_only: bool = False, spread: bool = False):
    return p | beam.Create([path]) | Read(None, TextColumns(), CONFIG, annotate_only, spread)


def test_read_emits_what_the_reader_reads(data_dir):
    path = str(data_dir / "mini.warc.gz")
    items = _pure(path)
    docs = sorted(d["id"] for k, d in items if k == "doc" and not d.get("decision"))
    drops = sorted((d["id"], d["decision"]) for k, d in items if k == "doc" and d.get("decision"))
    skipped = sorted(s for k, s in items if k == "skipped")
    assert len(docs) == 33 and {r for _, r in drops} == {"read:non_html", "read:http_status", "read:revisit"}
    with BeamTestPipeline(runner="DirectRunner") as p:
        out = _read(p, path, spread=True)  # the reshuffle packs and unpacks documents: nothing may change
        assert_that(out[DOCS] | "Ids" >> beam.Map(lambda d: d["id"]), equal_to(docs), label="docs")
        assert_that(out[DOCS] | "Html" >> beam.Map(lambda d: d["html"] is not None), equal_to([True] * 33),
                    label="html")
        assert_that(out[DROPPED] | "Reasons" >> beam.Map(lambda d: (d["id"], d["decision"])), equal_to(drops),
                    label="dropped")
        assert_that(out[DROPPED] | "Light" >> beam.Map(lambda d: ("html" in d or "text" in d, d["snippet"])),
                    equal_to([(False, None)] * len(drops)), label="light")  # no page travels with a drop
        assert_that(out[ERRORS], equal_to([]), label="errors")
        assert_that(out[SKIPPED] | "Kinds" >> beam.Map(lambda s: s[1]), equal_to(skipped), label="skipped")


def test_read_keeps_drops_in_the_main_output_when_annotating(data_dir):
    path = str(data_dir / "mini.warc.gz")
    with BeamTestPipeline(runner="DirectRunner") as p:
        out = _read(p, path, annotate_only=True)
        assert_that(out[DOCS] | beam.combiners.Count.Globally(), equal_to([38]), label="all")
        assert_that(out[DROPPED], equal_to([]), label="none dropped")


def test_a_file_of_unknown_format_is_an_error_row(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a crawl")
    with BeamTestPipeline(runner="DirectRunner") as p:
        out = _read(p, str(path))
        assert_that(out[ERRORS] | beam.Map(lambda e: (e["reason"], e["position"])),
                    equal_to([("read:unknown_format", "file")]), label="errors")
        assert_that(out[DOCS], equal_to([]), label="docs")


def test_extract_gives_the_extractors_text_and_drops_what_it_cannot_use(data_dir):
    path = str(data_dir / "mini.warc.gz")
    config = ExtractConfig(engine="resiliparse", timeout_s=0)
    pages = [d for k, d in _pure(path) if k == "doc" and not d.get("decision")]
    expected = {}
    for page in pages:
        text = extract_html(page["html"], page.get("charset"), page["url"], config).text
        expected[page["id"]] = text if text.strip() else None  # None: extract:empty
    kept = sorted((i, t) for i, t in expected.items() if t is not None)
    empty = sorted(i for i, t in expected.items() if t is None)
    with BeamTestPipeline(runner="DirectRunner") as p:
        out = p | beam.Create(pages) | ExtractText(config, annotate_only=False)
        assert_that(out[DOCS] | "Text" >> beam.Map(lambda d: (d["id"], d["text"])), equal_to(kept), label="docs")
        assert_that(out[DOCS] | "NoHtml" >> beam.Map(lambda d: "html" in d), equal_to([False] * len(kept)),
                    label="html dropped")
        assert_that(out[DROPPED] | "Empty" >> beam.Map(lambda d: (d["id"], d["decision"])),
                    equal_to([(i, "extract:empty") for i in empty]), label="dropped")
        assert_that(out[ERRORS], equal_to([]), label="errors")
