"""A generated corruption suite: real WARC records from tests/data, damaged at test time, read and run.

Every case must end as kept, dropped with a named reason, or an error row with a named reason, and the
damage may never reach another record: what is read from a damaged file is exactly what the intact file
holds, or an error row says what was lost and where. Inputs are built in ``tmp_path`` from the fixtures
by ``bench/fuzz_inputs.py`` (which also fuzzes them at random, in bulk).
"""

from __future__ import annotations

import gzip
import json
import random
import re
import tracemalloc
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.pipelines.corruption import (
    big_page,
    bomb_member,
    compare,
    gzip_bytes,
    gzip_zeros,
    inflate,
    nested_divs,
    read_items,
    record_id_for,
    record_id_of,
    response_record,
    set_content_length,
    split_members,
)
from pipelines import readers

CAP = 10_000_000


@pytest.fixture(scope="module")
def mini(data_dir):
    gz = (data_dir / "mini.warc.gz").read_bytes()
    members = split_members(gz)
    records = [inflate(m) for m in members]
    plain = b"".join(records)
    assert plain == (data_dir / "mini.warc").read_bytes()
    files = {"mini.warc.gz": gz, "mini.warc": plain, "whole.warc.gz": gzip_bytes(plain)}
    return {"members": members, "records": records, "files": files,
            "items": {name: read_items(name, data) for name, data in files.items()}}


def _pack(name: str, records: list[bytes]) -> bytes:
    if name == "mini.warc.gz":
        return b"".join(gzip_bytes(r) for r in records)
    joined = b"".join(records)
    return gzip_bytes(joined) if name == "whole.warc.gz" else joined


def _doc_ids(items) -> list[str]:
    return [d["id"] for k, d in items if k == "doc"]


def _errors(items) -> list[dict]:
    return [e for k, e in items if k == "error"]


# ----------------------------------------------------------------------------------------- truncation


@pytest.mark.parametrize("name", ["mini.warc.gz", "mini.warc", "whole.warc.gz"])
def test_truncation_at_random_offsets_is_one_error_and_keeps_everything_before(mini, name):
    data, original = mini["files"][name], mini["items"][name]
    rng = random.Random(7)
    member_ends = set(_member_ends(mini["members"])) if name == "mini.warc.gz" else set()
    cuts = sorted({rng.randrange(1, len(data)) for _ in range(25)} | set(sorted(member_ends)[:3]) | {len(data) - 3})
    intact_ids = _doc_ids(original)
    for cut in cuts:
        items = read_items(name, data[:cut])
        result = compare(original, items)
        errors = _errors(items)
        ids = _doc_ids(items)
        assert not result["altered"] and not result["added"], (name, cut)
        assert ids == intact_ids[: len(ids)], (name, cut)  # a prefix: nothing after the cut, nothing skipped
        assert all(e["reason"] == "read:truncated" and e["source"] == name and e["position"].startswith("byte ")
                   for e in errors), (name, cut, errors)
        if name == "mini.warc":  # exact: every record whose block ends before the cut, one error if one is cut
            spans = _record_spans(data)
            whole = sum(1 for _, end in spans if end <= cut)
            cut_inside = any(start < cut < end for start, end in spans)
            assert len(items) - len(errors) == whole, (cut, whole)
            assert len(errors) == cut_inside, (cut, errors)
        elif cut in member_ends:  # a gzip-per-record file cut between members is a shorter valid file
            assert errors == [], (name, cut)
        else:  # a compressed stream cut anywhere else is detected
            assert len(errors) == 1, (name, cut, errors)
            assert "truncated" in errors[0]["message"]


def _member_ends(members: list[bytes]) -> list[int]:
    ends, pos = [], 0
    for member in members:
        pos += len(member)
        ends.append(pos)
    return ends


def _record_spans(plain: bytes) -> list[tuple[int, int]]:
    """(start, end of block) of each record of an uncompressed WARC whose records end with CRLF CRLF."""
    starts = [m.start() for m in re.finditer(rb"(?m)^WARC/1\.[01]\r\n", plain)] + [len(plain)]
    return [(a, b - 4) for a, b in zip(starts, starts[1:])]


def test_truncated_record_is_named_by_its_record_id(mini):
    members, records = mini["members"], mini["records"]
    k = 5
    data = b"".join(members[:k]) + members[k][: len(members[k]) * 2 // 3]
    items = read_items("cut.warc.gz", data)
    (error,) = _errors(items)
    assert error["reason"] == "read:truncated"
    assert error["record_id"] == record_id_of(records[k])
    assert f"gzip member at byte {len(b''.join(members[:k]))}" in error["position"]
    assert "declares" in error["message"] and "the file ends inside the gzip member" in error["message"]


def test_whole_file_gzip_truncation_names_the_file_and_offset(shared_data, tmp_path):
    # ClueWeb09: one gzip stream for the whole file. FastWARC's iterator ends such a cut file silently.
    source = (shared_data / "warc" / "copycat" / "clueweb09-en0000-00.warc.gz").read_bytes()
    full = read_items("cw.warc.gz", source)
    assert _errors(full) == [] and len(_doc_ids(full)) == 23
    for cut in (30_000, 60_000, len(source) - 4):  # the last: only the CRC / size trailer is missing
        items = read_items("cw.warc.gz", source[:cut])
        (error,) = _errors(items)
        assert error["reason"] == "read:truncated" and error["source"] == "cw.warc.gz"
        assert "gzip member at byte 0" in error["position"] and "truncated" in error["message"]
        assert _doc_ids(items) == _doc_ids(full)[: len(_doc_ids(items))]


# ----------------------------------------------------------------------------------------- flipped bytes


def test_flipped_byte_in_a_gzip_member_loses_only_that_record(mini):
    members, original = mini["members"], mini["items"]["mini.warc.gz"]
    data = mini["files"]["mini.warc.gz"]
    starts = [len(b"".join(members[:i])) for i in range(len(members))]
    ids_by_member = {}
    for i, record in enumerate(mini["records"]):
        rid = record_id_of(record)
        ids_by_member[i] = readers.doc_id(rid, "x", 0) if rid else None
    rng = random.Random(11)
    seen = {"identical": 0, "corrupt": 0}
    for _ in range(30):
        k = rng.randrange(len(members))
        # Mostly inside the deflate data; sometimes the magic / method bytes of the member header.
        at = starts[k] + (rng.choice([0, 1, 2, 3]) if rng.random() < 0.2 else rng.randrange(10, len(members[k])))
        flipped = data[:at] + bytes([data[at] ^ rng.randrange(1, 256)]) + data[at + 1:]
        items = read_items("flip.warc.gz", flipped)
        result = compare(original, items)
        assert not result["altered"] and not result["added"]
        if result["identical"]:
            seen["identical"] += 1  # e.g. a flip in a header field zlib does not check
            continue
        seen["corrupt"] += 1
        (error,) = _errors(items)
        assert error["reason"] == "read:corrupt", error
        assert f"byte {starts[k]}" in error["message"]
        lost = set(_doc_ids(original)) - set(_doc_ids(items))
        assert lost <= {ids_by_member[k]}, (k, at)  # every other record is read, unchanged
    assert seen["corrupt"] >= 20


def test_flipped_byte_in_a_whole_file_gzip_is_an_error_row(mini):
    data, original = mini["files"]["whole.warc.gz"], mini["items"]["whole.warc.gz"]
    rng = random.Random(5)
    for _ in range(10):
        at = rng.randrange(20, len(data) - 8)
        items = read_items("whole.warc.gz", data[:at] + bytes([data[at] ^ 0x55]) + data[at + 1:])
        errors = _errors(items)
        assert errors and "read:corrupt" in {e["reason"] for e in errors}
        assert all(e["reason"].startswith("read:") and e["position"] for e in errors)
        ids = _doc_ids(items)
        # Nothing after the damage is invented; records before it are passed on (the CRC comes last).
        assert set(ids) <= set(_doc_ids(original))


# ----------------------------------------------------------------------------------------- lying lengths


@pytest.mark.parametrize("name", ["mini.warc.gz", "mini.warc", "whole.warc.gz"])
@pytest.mark.parametrize("delta", [-100, 100, 40_000])
def test_lying_content_length_is_an_error_for_that_record_only(mini, name, delta):
    records = list(mini["records"])
    k = 3  # a 22 kB HTML response in the middle of the file
    assert b"WARC-Type: response" in records[k][:200]
    records[k] = set_content_length(records[k], delta)
    items = read_items(name, _pack(name, records))
    (error,) = _errors(items)
    assert error["reason"] == "read:bad_length" and error["record_id"] == record_id_of(records[k])
    assert "Content-Length" in error["message"]
    original = mini["items"][name]
    lost = readers.doc_id(record_id_of(records[k]), name, 0)
    assert _doc_ids(items) == [i for i in _doc_ids(original) if i != lost]
    assert not compare(original, items)["altered"]


def test_garbage_between_records(mini):
    records, members = mini["records"], mini["members"]
    junk = random.Random(3).randbytes(3000)
    original = mini["items"]["mini.warc.gz"]
    # Between two gzip members: an error row, and no record lost.
    items = read_items("g.warc.gz", b"".join(members[:6]) + junk + b"".join(members[6:]))
    (error,) = _errors(items)
    assert error["reason"] == "read:corrupt" and "no gzip member starts at byte" in error["message"]
    assert _doc_ids(items) == _doc_ids(original)
    # Between two uncompressed records: the record before it cannot be told from a lying length.
    items = read_items("g.warc", b"".join(records[:6]) + junk + b"".join(records[6:]))
    assert [e["reason"] for e in _errors(items)] == ["read:bad_length"]
    assert len(_doc_ids(items)) == len(_doc_ids(original)) - 1


# ----------------------------------------------------------------------------------------- size and bombs


def _peak_mb(fn):
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_decompression_bomb_is_capped_and_the_file_goes_on(mini):
    members, original = mini["members"], mini["items"]["mini.warc.gz"]
    cap = 64 << 20
    for declared, reasons in ((None, ["read:decompression_limit"]),
                              (100, ["read:bad_length", "read:decompression_limit"])):
        bomb = bomb_member(256 << 20, declared=declared)  # ~260 kB that inflate to 256 MiB
        data = b"".join(members[:4]) + bomb + b"".join(members[4:])
        items, peak = _peak_mb(lambda d=data: read_items("bomb.warc.gz", d, max_decompressed_bytes=cap))
        errors = _errors(items)
        assert [e["reason"] for e in errors] == reasons
        if declared is None:  # the honest bomb is named; the liar's overflow is past its declared end
            assert errors[-1]["record_id"] == record_id_for("http://bomb.example/")
        assert "max_decompressed_bytes" in errors[-1]["message"]
        assert _doc_ids(items) == _doc_ids(original)  # every real record around the bomb is read
        assert not compare(original, items)["altered"]
        assert peak < 48, peak  # memory bounded by the record cap, not by the bomb


def test_http_content_encoding_bomb_is_read_only_up_to_the_record_cap():
    body = gzip_zeros(1 << 30)  # 1 MB of gzip that decodes to 1 GiB
    record = response_record("http://bomb.example/http", body, extra_http="Content-Encoding: gzip\r\n")
    data = gzip_bytes(record)
    (item,), peak = _peak_mb(lambda: read_items("http-bomb.warc.gz", data, max_record_bytes=2_000_000))
    assert item[0] == "doc" and item[1]["decision"] == "read:too_large"
    assert peak < 16, peak  # decoded only up to the record cap


def test_50mb_page_is_dropped_by_the_record_cap_with_bounded_memory(mini):
    html = next(d["html"] for k, d in mini["items"]["mini.warc.gz"] if k == "doc" and "html" in d)
    page = big_page(html, 50_000_000)
    data = gzip.compress(response_record("http://big.example/", page), compresslevel=1, mtime=0)
    (item,), peak = _peak_mb(lambda: read_items("big.warc.gz", data))
    assert item[0] == "doc" and item[1]["decision"] == "read:too_large" and "html" not in item[1]
    assert peak < 3.5 * CAP / 2**20, peak
    (item,) = read_items("big.warc.gz", data, max_record_bytes=60_000_000)
    assert item[1]["html"] == page  # with a larger cap the page is read whole (extraction caps it next)


def test_the_reader_default_cap_is_the_recipe_default():
    from pipelines.readers import ReadConfig

    assert ReadConfig().max_decompressed_bytes == readers.DEFAULT_MAX_DECOMPRESSED_BYTES


def test_empty_and_non_warc_files_end_cleanly():
    assert read_items("empty.warc", b"") == []
    assert read_items("blank.warc.gz", gzip_bytes(b"\r\n\r\n")) == []
    (item,) = read_items("notes.warc", b"just some notes\nnot a crawl\n")
    assert item[0] == "error" and item[1]["reason"] == "read:unknown_format"
    (item,) = read_items("nul.warc.gz", gzip_bytes(b"\x00" * 100_000))
    assert item[0] == "error" and item[1]["reason"] == "read:unknown_format"


# ----------------------------------------------------------------------------------------- payloads, end to end


def _page(mini, url_part: str) -> bytes:
    return next(d["html"] for k, d in mini["items"]["mini.warc.gz"] if k == "doc" and url_part in d["url"])


@pytest.fixture(scope="module")
def payload_run(mini, tmp_path_factory):
    """One annotate-only run of the default recipe over the payload cases and three damaged files."""
    from pipelines.run import main

    tmp = tmp_path_factory.mktemp("corruption")
    html = _page(mini, "zotero.org")  # English, UTF-8 with curly quotes and dashes; kept by the recipe
    text = html.decode("utf-8")
    assert not html.isascii()
    no_meta = re.sub(r"<meta[^>]*charset[^>]*>", "", text, flags=re.I)
    mixed = html.replace(b"</p>", "</p><p>Straße in Köln — Grüße aus München.</p>".encode("cp1252"), 1)
    cases = {
        "original": (html, "text/html; charset=utf-8"),
        "wrong-label": (html, "text/html; charset=iso-8859-1"),
        "no-charset-latin1": (no_meta.encode("cp1252", "xmlcharrefreplace"), "text/html"),
        "nul-bytes": (html.replace(b"<p>", b"<p>\x00").replace(b"</p>", b"\x00\x00</p>"), "text/html; charset=utf-8"),
        "mixed-encodings": (mixed, "text/html; charset=utf-8"),
        "binary": (random.Random(1).randbytes(200_000), "text/html"),
        "nested": (nested_divs(100_000), "text/html"),
        "big": (big_page(html, 50_000_000), "text/html"),
    }
    records = [response_record(f"http://cases.example/{name}", body, content_type=ctype,
                               date=f"2024-01-{i + 1:02d}T00:00:00Z")
               for i, (name, (body, ctype)) in enumerate(cases.items())]
    records.append(response_record("http://cases.example/http-bomb", gzip_zeros(1 << 30),
                                   extra_http="Content-Encoding: gzip\r\n"))
    members = mini["members"]
    files = {
        "cases.warc.gz": b"".join(gzip_bytes(r) for r in records),
        "truncated.warc.gz": b"".join(members[:8]) + members[8][: len(members[8]) // 2],
        "flipped.warc.gz": b"".join(members[:5]) + members[5][:300] + bytes([members[5][300] ^ 0xFF])
                           + members[5][301:] + b"".join(members[6:12]),
        "lying.warc": b"".join(mini["records"][:3]) + set_content_length(mini["records"][3], -100)
                      + b"".join(mini["records"][4:8]),
        # A JSON "\ud800" escape decodes to a lone surrogate, which no UTF-8 encoder takes: it used to fail
        # the whole job in Beam's coder.
        "surrogate.jsonl": json.dumps({
            "id": "s1", "url": "http://cases.example/surrogate",
            "text": "A lone \ud800 surrogate. " + "An ordinary sentence about the river. " * 9,
        }).encode() + b"\n",
    }
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    out = tmp / "out"
    code = main(["--input", *[str(tmp / n) for n in files], "--output", str(out), "-q", "--annotate_only",
                 "--set", "max_error_rate=1"])
    stats = json.loads((out / "stats.json").read_text())
    rows = {r["url"]: r for r in pq.read_table(out / "data" / "train-00000-of-00001.parquet").to_pylist()}
    errors = pq.read_table(out / "errors" / "errors-00000-of-00001.parquet").to_pylist()
    return {"code": code, "stats": stats, "rows": rows, "errors": errors, "lying_id": record_id_of(mini["records"][3])}


def test_run_finishes_and_every_file_balances(payload_run):
    stats = payload_run["stats"]
    assert payload_run["code"] == 0 and stats["identity_problems"] == []
    files = {Path(k).name: v for k, v in stats["files"].items()}
    assert files["cases.warc.gz"]["read"] == 9 and files["cases.warc.gz"]["errors"] == {}
    assert files["truncated.warc.gz"]["errors"] == {"read:truncated": 1}
    assert files["flipped.warc.gz"]["errors"] == {"read:corrupt": 1}
    assert files["lying.warc"]["errors"] == {"read:bad_length": 1}
    assert files["surrogate.jsonl"]["read"] == 1 and files["surrogate.jsonl"]["errors"] == {}
    for entry in files.values():
        assert entry["read"] == entry["kept"] + sum(entry["dropped"].values()) + sum(entry["errors"].values())
    by_file = {}
    for error in payload_run["errors"]:
        by_file.setdefault(Path(error["source"]).name, []).append(error)
        assert error["position"].startswith("byte ") and error["message"]
    assert by_file["lying.warc"][0]["record_id"] == payload_run["lying_id"]
    assert by_file["truncated.warc.gz"][0]["record_id"]  # the cut record is named


def _case(payload_run, name: str) -> dict:
    return payload_run["rows"][f"http://cases.example/{name}"]


def test_payload_cases_end_as_expected(payload_run):
    original = _case(payload_run, "original")
    assert original["decision"] == "keep"
    # Mislabelled, unlabelled Latin-1 and NUL-laden copies decode to exactly the original text.
    for name in ("wrong-label", "no-charset-latin1", "nul-bytes"):
        row = _case(payload_run, name)
        assert row["text"] == original["text"], name
        assert row["decision"] == "dedup:exact" and row["duplicate_of"] == original["id"], name
    assert _case(payload_run, "wrong-label")["charset"] == "utf-8"
    assert "\x00" not in _case(payload_run, "nul-bytes")["text"]
    # UTF-8 with a windows-1252 paragraph: both parts decoded, no mojibake, no replacement characters.
    mixed = _case(payload_run, "mixed-encodings")
    assert "Ã" not in mixed["text"] and "\ufffd" not in mixed["text"]
    assert {c for c in original["text"] if ord(c) > 127} <= set(mixed["text"])
    assert mixed["decision"] in ("keep", "dedup:exact", "dedup:near")
    # Drops with reasons.
    assert _case(payload_run, "binary")["decision"] == "extract:binary"
    assert _case(payload_run, "nested")["decision"] == "extract:empty"  # lxml stops at depth 255: no text
    assert _case(payload_run, "big")["decision"] == "read:too_large"
    assert _case(payload_run, "http-bomb")["decision"] == "read:too_large"
    assert _case(payload_run, "surrogate")["text"].startswith("A lone \ufffd surrogate.")


def test_nested_markup_that_hangs_the_parser_is_killed_by_the_timeout():
    # resiliparse needs minutes for 100k nested divs (measured: 377 s); the worker process is killed.
    from pipelines.extract import Extractor, ExtractTimeout
    from pipelines.extract import ExtractConfig

    with Extractor(ExtractConfig(engine="resiliparse", timeout_s=2)) as extractor:
        with pytest.raises(ExtractTimeout):
            extractor(nested_divs(100_000), "utf-8", None)
        after = extractor(b"<html><body><p>Still extracting after the kill.</p></body></html>", "utf-8", None)
    assert "Still extracting" in after.text
