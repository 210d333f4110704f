"""Readers on real files: the bundled fixtures and, when present, the WARC collection in ../shared/data."""

from __future__ import annotations

import io as stdio
from collections import Counter
from pathlib import Path

import pytest

from pipelines import readers


def _opener(path: Path, decompress: bool = False):
    def open_file():
        if decompress and path.suffix == ".gz":
            import gzip

            return gzip.open(path, "rb")
        if decompress and path.suffix == ".zst":
            import zstandard

            return stdio.BufferedReader(zstandard.open(path, "rb"))  # readline(), as Beam's CompressedFile has
        return open(path, "rb")

    return open_file


def _items(path: Path) -> list:
    return list(readers.read_warc(str(path), _opener(path), max_record_bytes=10_000_000))


def _summary(items) -> Counter:
    c: Counter = Counter()
    for kind, payload in items:
        if kind == "doc":
            c[payload.get("decision") or ("html" if "html" in payload else "text")] += 1
        elif kind == "error":
            c["error:" + payload["reason"]] += 1
        else:
            c["skipped:" + payload] += 1
    return c


@pytest.mark.parametrize(
    "name, fmt",
    [
        ("a.warc.gz", "warc"), ("a.warc", "warc"), ("A.ARC.GZ", "warc"), ("x.warc.wet.gz", "wet"),
        ("x.wet", "wet"), ("d.jsonl.zst", "jsonl"), ("d.jsonl", "jsonl"), ("gs://b/d.parquet", "parquet"),
        ("x.warc.lz4", "warc"),
    ],
)
def test_detect_format(name, fmt):
    assert readers.detect_format(name) == fmt


def test_detect_format_unknown_names_the_file_and_the_fix():
    with pytest.raises(ValueError, match=r"notes\.txt.*--input_format"):
        readers.detect_format("crawl/notes.txt")


def test_mini_warc_gzip_and_plain_read_the_same(data_dir):
    gz, plain = _items(data_dir / "mini.warc.gz"), _items(data_dir / "mini.warc")
    summary = _summary(gz)
    assert summary == _summary(plain)
    # 30 pages + 2 re-captures + the Common Crawl page are HTML; the crawl noise is dropped with reasons.
    assert summary["html"] == 33
    assert summary["read:non_html"] == 2
    assert summary["read:http_status"] == 2
    assert summary["read:revisit"] == 1
    assert summary["skipped:warcinfo"] >= 1 and summary["skipped:request"] == 1
    assert not any(key.startswith("error") for key in summary)


def test_warc_docs_keep_record_id_url_and_a_stable_id(data_dir):
    docs = [p for k, p in _items(data_dir / "mini.warc.gz") if k == "doc"]
    again = [p for k, p in _items(data_dir / "mini.warc.gz") if k == "doc"]
    assert [d["id"] for d in docs] == [d["id"] for d in again]
    assert len({d["id"] for d in docs}) == len(docs)
    for doc in docs:
        assert doc["record_id"].startswith("<urn:uuid:")
        assert doc["url"].startswith("http")
        assert doc["source_format"] == "warc"
        assert doc["crawl_date"][:2] in ("19", "20")
    cc = [d for d in docs if d["url"] == "https://an.wikipedia.org/wiki/Escopete"]
    assert len(cc) == 1 and cc[0]["charset"] == "utf-8" and cc[0]["html"].startswith(b"<!DOCTYPE html>")


def test_id_does_not_depend_on_the_path_prefix():
    assert readers.doc_id(None, "/local/crawl/a.warc.gz", 7) == readers.doc_id(None, "gs://bucket/crawl/a.warc.gz", 7)
    assert readers.doc_id("<urn:uuid:1>", "a", 1) != readers.doc_id("<urn:uuid:2>", "a", 1)


def test_wet_conversion_records_are_text_documents(data_dir):
    docs = [p for k, p in _items(data_dir / "whirlwind.warc.wet.gz") if k == "doc"]
    assert len(docs) == 1
    assert docs[0]["source_format"] == "wet"
    assert docs[0]["text"].startswith("Escopete - Biquipedia")
    assert docs[0]["url"] == "https://an.wikipedia.org/wiki/Escopete"


@pytest.mark.parametrize("name", ["mini.jsonl.gz", "mini.jsonl.zst"])
def test_jsonl_reads_documents_and_reports_bad_lines(data_dir, name):
    path = data_dir / name
    items = list(readers.read_jsonl(str(path), _opener(path, decompress=True), readers.TextColumns()))
    docs = [p for k, p in items if k == "doc"]
    errors = [p for k, p in items if k == "error"]
    assert len(docs) == 21
    assert [d["decision"] for d in docs].count("read:no_text") == 1
    assert len(errors) == 1 and errors[0]["reason"] == "read:bad_json" and errors[0]["position"] == "line 14"
    kept = [d for d in docs if not d["decision"]]
    assert all(d["record_id"].startswith("mw-") and d["url"].startswith("http") and d["text"] for d in kept)


def test_parquet_default_and_custom_columns(data_dir):
    default = [p for k, p in readers.read_parquet(str(data_dir / "mini.parquet"), _opener(data_dir / "mini.parquet"),
                                             readers.TextColumns()) if k == "doc"]
    custom_path = data_dir / "mini_custom_cols.parquet"
    custom = [p for k, p in readers.read_parquet(str(custom_path), _opener(custom_path),
                                            readers.TextColumns(text="content", id="doc_id", url="link")) if k == "doc"]
    assert len(default) == 21 and len(custom) == 20
    by_id = {d["record_id"]: d["text"] for d in default if d["text"]}
    assert all(by_id[d["record_id"]] == d["text"] for d in custom)


def test_parquet_missing_text_column_is_a_clear_error(data_dir):
    path = data_dir / "mini_custom_cols.parquet"
    items = list(readers.read_parquet(str(path), _opener(path), readers.TextColumns()))
    assert len(items) == 1 and items[0][0] == "error"
    assert items[0][1]["reason"] == "read:no_text_column" and "--text_column" in items[0][1]["message"]


# ----------------------------------------------------------------------------------------- ../shared/data/warc


@pytest.mark.parametrize(
    "relative, expected",
    [
        # genuine Common Crawl CC-MAIN-2024-22 capture
        ("cc-whirlwind/whirlwind.warc.gz", {"html": 1, "skipped:warcinfo": 1, "skipped:request": 1, "skipped:metadata": 1}),
        # LZ4-compressed WARC: FastWARC reads it
        ("resiliparse/warcfile.warc.lz4", {"html": 16}),
        # ARC v1: FastWARC cannot, the warcio fallback converts it
        ("warcio/example.arc", {"html": 1}),
        ("warcio/example.arc.gz", {"html": 1}),
        # whole-file gzip + WARC/0.18 with an invalid date (ClueWeb09)
        ("copycat/clueweb09-en0000-00.warc.gz", {"html": 23}),
        # HTTP Content-Encoding: br is decoded
        ("ukwa-webarchive-discovery/transfer_compression_brotli.warc.gz", {"html": 1, "read:non_html": 1}),
        # chunked Transfer-Encoding
        ("warcio/example-iana.org-chunked.warc", {"html": 1}),
        # revisit records are dropped with a reason
        ("pywb/dupes.warc.gz", {"read:revisit": 9}),
    ],
)
def test_real_warc_files(shared_data, relative, expected):
    summary = _summary(_items(shared_data / "warc" / relative))
    for key, count in expected.items():
        assert summary[key] == count, (relative, dict(summary))


def test_decoded_payloads_are_html(shared_data):
    for relative in ("ukwa-webarchive-discovery/transfer_compression_brotli.warc.gz",
                     "warcio/example-iana.org-chunked.warc", "warcio/example.arc"):
        docs = [p for k, p in _items(shared_data / "warc" / relative) if k == "doc" and "html" in p]
        assert docs and all(b"<html" in d["html"][:2000].lower() or b"<!doctype" in d["html"][:200].lower() for d in docs)


def test_common_crawl_2008_arc_dialect_is_read(shared_data):
    # Common Crawl's 2008 ARC dialect, which neither FastWARC nor warcio could parse.
    path = shared_data / "warc" / "copycat" / "cc-2008-small-sample-1213893279526_0.arc"
    assert _summary(_items(path)) == {"html": 125, "read:http_status": 14, "read:non_html": 6, "skipped:warcinfo": 1}


def test_unreadable_file_is_an_error_row_not_a_crash(shared_data):
    # A gzipped list of WARC paths: not an archive at all.
    path = shared_data / "warc" / "cc-whirlwind" / "CC-MAIN-2024-22.warc.paths.gz"
    items = _items(path)
    errors = [p for k, p in items if k == "error"]
    assert len(errors) == 1 and len(items) == 1
    assert errors[0]["reason"] == "read:unknown_format" and errors[0]["source"] == str(path)
    assert errors[0]["message"]
