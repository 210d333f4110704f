"""Every real WARC / ARC / WET file in ../shared/data/warc through the reader and through the pipeline.

Third-party files, some broken on purpose (truncated, lying lengths, bad ARC headers, a file that is not
an archive at all). None may crash a run; what can be read is read, what cannot is an error row that
names the file, the position and the reason; and the books balance per file. Skipped cleanly when
../shared/data is absent.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from pipelines import readers

# What the reader makes of each file, record by record: "html" / "text" (a document to extract), a
# read-time drop reason, "error:<reason>", or "skipped:<WARC-Type>" for non-document records.
EXPECTED = {
    # not an archive: Common Crawl's list of WARC paths
    "cc-whirlwind/CC-MAIN-2024-22.warc.paths.gz": {"error:read:unknown_format": 1},
    "cc-whirlwind/whirlwind.warc.gz": {"html": 1, "skipped:metadata": 1, "skipped:request": 1, "skipped:warcinfo": 1},
    "cc-whirlwind/whirlwind.warc.wat.gz": {"skipped:metadata": 1, "skipped:warcinfo": 1},
    "cc-whirlwind/whirlwind.warc.wet.gz": {"skipped:warcinfo": 1, "text": 1},
    "cmoncrawl/mini.warc.gz": {"html": 1, "skipped:request": 1, "skipped:warcinfo": 1},
    # Common Crawl's 2008/2009 ARC dialect (the file header's length swallows its separator; HTTP headers
    # announce chunked + gzip over bodies stored decoded): 145 and 8 records, all read
    "copycat/cc-2008-small-sample-1213893279526_0.arc": {"html": 125, "read:http_status": 14, "read:non_html": 6,
                                                         "skipped:warcinfo": 1},
    "copycat/cc-2009-small-sample-1262850551027_8.arc": {"html": 8, "skipped:warcinfo": 1},
    # whole-file gzip, WARC/0.18, no separator after blocks, an invalid date
    "copycat/clueweb09-en0000-00.warc.gz": {"html": 23, "skipped:warcinfo": 1},
    "copycat/clueweb12-0000tw-00.warc.gz": {"html": 3, "skipped:warcinfo": 1},
    # Wayback Machine fetches stored as response records without an HTTP block (the HTTP headers are in the
    # WARC header block): the snapshots are HTML pages, the topic-1 records are CDX listings (text/plain)
    "copycat/wayback-snapshot-topic-02.warc.gz": {"html": 128, "skipped:warcinfo": 1},
    "copycat/wayback-topic-1--20201003083220753-00000.warc.gz": {"read:non_html": 238, "skipped:warcinfo": 1},
    "dolma/sample-0000.warc.gz": {"html": 22, "read:non_html": 2, "skipped:metadata": 1, "skipped:request": 22,
                                  "skipped:warcinfo": 1},
    "dolma/sample-0001.warc.gz": {"html": 15, "read:non_html": 2, "skipped:metadata": 1, "skipped:request": 15,
                                  "skipped:warcinfo": 1},
    "jwarc/cc.warc.gz": {"html": 1},
    "jwarc/gzip_extra_sl.warc.gz": {"skipped:warcinfo": 1},
    "pywb/dupes.warc.gz": {"html": 1, "read:http_status": 1, "read:non_html": 1, "read:revisit": 9,
                           "skipped:request": 12, "skipped:warcinfo": 1},
    "pywb/example-url-agnostic-orig.warc.gz": {"html": 1, "skipped:warcinfo": 1},
    "pywb/example-url-agnostic-revisit.warc.gz": {"read:revisit": 1, "skipped:warcinfo": 1},
    "pywb/example-wget-1-14.warc.gz": {"html": 1, "read:non_html": 3, "skipped:request": 1, "skipped:warcinfo": 1},
    "pywb/example-wpull.warc.gz": {"html": 1, "read:non_html": 1, "skipped:request": 1, "skipped:warcinfo": 1},
    "pywb/iana.warc.gz": {"html": 16, "read:http_status": 4, "read:non_html": 28, "read:revisit": 123,
                          "skipped:request": 171, "skipped:warcinfo": 1},
    "pywb/missing-status-text.warc": {"read:http_status": 1},  # "HTTP/1.0 302 " and \r\r\n line ends
    "resiliparse/block-sized-records.warc": {"skipped:unknown": 3},
    "resiliparse/block-sized-records.warc.gz": {"skipped:unknown": 3},
    "resiliparse/block-sized-records.warc.lz4": {"skipped:unknown": 3},
    # its only record is cut short inside its gzip member
    "resiliparse/clipped.warc.gz": {"error:read:truncated": 1},
    "resiliparse/clueweb-quirk.warc.gz": {"html": 29, "skipped:warcinfo": 1},
    "resiliparse/warcfile.warc.gz": {"html": 16, "skipped:metadata": 16, "skipped:request": 17, "skipped:warcinfo": 1},
    "resiliparse/warcfile.warc.lz4": {"html": 16, "skipped:metadata": 16, "skipped:request": 17, "skipped:warcinfo": 1},
    "ukwa-webarchive-discovery/BL-20140325121225068-00000-32090~opera~8443.warc.gz": {
        "html": 32, "read:http_status": 5, "read:non_html": 28, "skipped:metadata": 62, "skipped:request": 62,
        "skipped:warcinfo": 1},
    "ukwa-webarchive-discovery/BL-20140325122341434-00000-32090~opera~8443.warc.gz": {
        "html": 6, "read:http_status": 1, "read:non_html": 3, "read:revisit": 55, "skipped:metadata": 62,
        "skipped:request": 62, "skipped:warcinfo": 1},
    "ukwa-webarchive-discovery/IAH-20080430204825-00000-blackbook-truncated.arc.gz": {
        "html": 2, "read:non_html": 6, "skipped:warcinfo": 1},
    "ukwa-webarchive-discovery/IAH-20080430204825-00000-blackbook-truncated.warc.gz": {
        "html": 2, "read:non_html": 6, "skipped:metadata": 7, "skipped:request": 7, "skipped:warcinfo": 1},
    "ukwa-webarchive-discovery/IAH-urls-wget.warc.gz": {"html": 2, "read:http_status": 9, "read:non_html": 8,
                                                       "skipped:request": 16, "skipped:warcinfo": 1},
    "ukwa-webarchive-discovery/flashfrozen-jwat-recompressed.warc.gz": {"html": 2, "read:non_html": 40,
                                                                       "skipped:request": 39, "skipped:warcinfo": 1},
    "ukwa-webarchive-discovery/ip-host-testcase.warc.gz": {"read:http_status": 1, "read:non_html": 2,
                                                          "skipped:metadata": 1, "skipped:request": 1,
                                                          "skipped:warcinfo": 1},
    "ukwa-webarchive-discovery/transfer_compression_brotli.warc.gz": {"html": 1, "read:non_html": 1,
                                                                     "skipped:metadata": 1, "skipped:request": 1,
                                                                     "skipped:warcinfo": 1},
    "ukwa-webarchive-discovery/transfer_compression_gzip.warc.gz": {"html": 1, "read:non_html": 1,
                                                                   "skipped:metadata": 1, "skipped:request": 1,
                                                                   "skipped:warcinfo": 1},
    "ukwa-webarchive-discovery/transfer_compression_none.warc.gz": {"html": 1, "read:non_html": 1,
                                                                   "skipped:metadata": 1, "skipped:request": 1,
                                                                   "skipped:warcinfo": 1},
    "ukwa-webarchive-discovery/truncated_datetime.warc": {"html": 1, "read:non_html": 1, "skipped:metadata": 1,
                                                         "skipped:request": 1, "skipped:warcinfo": 1},
    # warcio's deliberately broken ARC: lengths "-1" and "abc", a one-byte block that is no HTTP response
    "warcio/bad.arc": {"error:read:bad_header": 3, "error:read:bad_http": 1},
    "warcio/example-bad-non-chunked.warc.gz": {"html": 1, "read:revisit": 1, "skipped:request": 2,
                                               "skipped:warcinfo": 2},
    "warcio/example-bad.warc.gz.bad": {"html": 1, "read:http_status": 1, "read:revisit": 1, "skipped:request": 2,
                                       "skipped:warcinfo": 1},
    "warcio/example-digest.warc": {"skipped:request": 4},
    "warcio/example-iana.org-chunked.warc": {"html": 1, "skipped:request": 1, "skipped:warcinfo": 1},
    "warcio/example-resource.warc.gz": {"html": 1, "skipped:warcinfo": 2},
    "warcio/example-space-in-target-uri.warc.gz": {"read:non_html": 1, "skipped:warcinfo": 1},
    # its record declares 1,591 bytes and 1,579 follow (the file lost its CRs in a line-ending conversion)
    "warcio/example-space-in-url.arc": {"error:read:truncated": 1, "skipped:warcinfo": 1},
    # its response declares Content-Length 973 but the block runs 2 bytes longer
    "warcio/example-trunc.warc": {"error:read:bad_length": 1, "skipped:request": 1, "skipped:warcinfo": 2},
    "warcio/example-wget-bad-target-uri.warc.gz": {"html": 1, "read:non_html": 2, "skipped:metadata": 1,
                                                   "skipped:request": 1, "skipped:warcinfo": 1},
    "warcio/example-wrong-chunks.warc.gz": {"html": 1, "skipped:request": 1},
    "warcio/example.arc": {"html": 1, "skipped:warcinfo": 1},
    "warcio/example.arc.gz": {"html": 1, "skipped:warcinfo": 1},
    "warcio/example.warc": {"html": 1, "read:revisit": 1, "skipped:request": 2, "skipped:warcinfo": 2},
    "warcio/example.warc.gz": {"html": 1, "read:revisit": 1, "skipped:request": 2, "skipped:warcinfo": 2},
    "warcio/post-test.warc.gz": {"read:non_html": 3, "skipped:request": 3},
}


def _files(shared_data: Path) -> list[Path]:
    files = (shared_data / "warc").rglob("*")
    return sorted(p for p in files if p.is_file() and p.name not in ("SOURCE.txt", "LICENSE"))


def _items(path: Path) -> list:
    return list(readers.read_warc(str(path), lambda: open(path, "rb"), max_record_bytes=10_000_000))


def _summary(items) -> dict:
    summary: Counter = Counter()
    for kind, payload in items:
        if kind == "doc":
            summary[payload.get("decision") or ("html" if "html" in payload else "text")] += 1
        elif kind == "error":
            summary["error:" + payload["reason"]] += 1
        else:
            summary["skipped:" + payload] += 1
    return dict(sorted(summary.items()))


def test_every_shared_file_has_an_expectation(shared_data):
    assert {str(p.relative_to(shared_data / "warc")) for p in _files(shared_data)} == set(EXPECTED)


@pytest.mark.parametrize("relative", sorted(EXPECTED))
def test_reader_on_every_shared_file(shared_data, relative):
    path = shared_data / "warc" / relative
    items = _items(path)
    assert _summary(items) == EXPECTED[relative]
    for kind, payload in items:
        if kind == "error":
            assert payload["source"] == str(path) and payload["position"] and payload["message"]
            assert payload["reason"].startswith("read:")
        elif kind == "doc":
            assert payload["source"] == str(path) and payload["id"]
    ids = [p["id"] for k, p in items if k == "doc"]
    assert len(set(ids)) == len(ids)


def test_known_bad_files_name_the_problem(shared_data):
    warc = shared_data / "warc"
    (clipped,) = [p for k, p in _items(warc / "resiliparse/clipped.warc.gz") if k == "error"]
    assert clipped["record_id"] == "<urn:uuid:f3dfa8fa-f031-4a38-90cc-1dcee3d07bb5>"
    assert clipped["url"].startswith("http://www.houstonpress.com/music/")
    assert "declares 88,275 bytes" in clipped["message"] and "gzip member at byte 0" in clipped["message"]

    (trunc,) = [p for k, p in _items(warc / "warcio/example-trunc.warc") if k == "error"]
    assert trunc["record_id"] == "<urn:uuid:a9c51e3e-0221-11e7-bf66-0242ac120005>" and trunc["position"] == "byte 1197"
    assert "Content-Length 973" in trunc["message"]

    bad_arc = [p for k, p in _items(warc / "warcio/bad.arc") if k == "error"]
    assert [(e["position"], e["reason"]) for e in bad_arc] == [
        ("byte 0", "read:bad_header"), ("byte 134", "read:bad_header"), ("byte 202", "read:bad_http"),
        ("byte 262", "read:bad_header")]

    (listing,) = [p for k, p in _items(warc / "cc-whirlwind/CC-MAIN-2024-22.warc.paths.gz") if k == "error"]
    assert "not a WARC or ARC file" in listing["message"] and "part-00000" in listing["message"]


def test_wayback_response_records_without_an_http_block(shared_data):
    warc = shared_data / "warc" / "copycat"
    listings = [p for k, p in _items(warc / "wayback-topic-1--20201003083220753-00000.warc.gz") if k == "doc"]
    # 232 CDX listings (text/plain) and 6 empty answers without a Content-Type: none of them a page
    assert Counter((d["content_type"], d["decision"]) for d in listings) == {
        ("text/plain", "read:non_html"): 232, ("", "read:non_html"): 6}
    pages = [p for k, p in _items(warc / "wayback-snapshot-topic-02.warc.gz") if k == "doc"]
    # The charset is the WARC header block's Content-Type parameter: none is lost.
    assert Counter(d["charset"] for d in pages) == {"utf-8": 76, "iso-8859-1": 23, "windows-1252": 13,
                                                    "windows-1250": 13, "iso-8859-2": 1, "ibm852": 1, "utf-8-sig": 1}
    assert all(d["html"].lstrip(b"\xef\xbb\xbf \r\n\t")[:1] == b"<" for d in pages)


def test_2008_common_crawl_arc_bodies_are_plain_html(shared_data):
    path = shared_data / "warc" / "copycat" / "cc-2008-small-sample-1213893279526_0.arc"
    pages = [p for k, p in _items(path) if k == "doc" and "html" in p]
    assert len(pages) == 125
    # The headers say "Transfer-Encoding: chunked" and "Content-Encoding: gzip", the bodies are plain.
    assert all(p["html"].lstrip(b"\xef\xbb\xbf \r\n\t")[:1] == b"<" for p in pages)
    assert pages[0]["url"] == "http://cineciudad.com/pelicula/index/502"
    assert pages[0]["crawl_date"] == "2008-05-09T19:02:41Z" and pages[0]["charset"] == "utf-8"


# ----------------------------------------------------------------------------------------- the pipeline


def _run(shared_data: Path, out: Path, *extra: str) -> tuple[int, dict]:
    from pipelines.run import main

    files = [str(p) for p in _files(shared_data)]
    code = main(["--input", *files, "--output", str(out), "-q", "--input_format", "warc", *extra])
    return code, json.loads((out / "stats.json").read_text())


def _check_run(shared_data: Path, code: int, stats: dict) -> None:
    assert code == 0  # 8 error rows of ~1,100 records: under max_error_rate
    assert stats["identity_problems"] == []
    assert set(stats["files"]) == {str(p) for p in _files(shared_data)}
    for relative, expected in EXPECTED.items():
        entry = stats["files"][str(shared_data / "warc" / relative)]
        documents = sum(n for key, n in expected.items() if not key.startswith("skipped:"))
        assert entry["read"] == documents, relative
        assert entry["read"] == entry["kept"] + sum(entry["dropped"].values()) + sum(entry["errors"].values())
        errors = {k[len("error:"):]: n for k, n in expected.items() if k.startswith("error:")}
        assert entry["errors"] == errors, relative
        skipped = {k[len("skipped:"):]: n for k, n in expected.items() if k.startswith("skipped:")}
        assert entry["skipped_records"] == skipped, relative


def test_every_shared_file_through_the_pipeline(shared_data, tmp_path):
    # resiliparse keeps this run to seconds; the trafilatura run below is the slow twin.
    code, stats = _run(shared_data, tmp_path / "out", "--set", "extract.engine=resiliparse")
    _check_run(shared_data, code, stats)
    assert stats["kept"] > 100


@pytest.mark.slow
def test_every_shared_file_through_the_default_recipe(shared_data, tmp_path):
    code, stats = _run(shared_data, tmp_path / "out")
    _check_run(shared_data, code, stats)
    assert stats["kept"] > 100
