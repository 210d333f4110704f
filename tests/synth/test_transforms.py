"""The Beam side of MAGA (synth/transforms.py): selection, cap, deterministic batches and the stats (fast);
then the whole transform on a TestPipeline with real generation (slow): the embedded SmolLM2 GGUF
in-process, and the same model behind a real ``transformers serve`` on 127.0.0.1, including malformed
stage (a) JSON and a server killed mid-run."""

from __future__ import annotations

import gzip
import json
import math
import pickle
import signal
import socket
import threading
import time
import uuid
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.registry import SYNTHETIC_SCHEMA
from schemas import ERROR_SCHEMA
from synth import maga
from tests.synth import local_server as serve
from synth.backends import DEFAULT_GGUF, SamplingParams, TransformersBackend
from synth.config import SynthConfig
from synth.transforms import (
    ERRORS,
    STATS,
    SYNTHETIC,
    CapDocuments,
    DeterministicBatches,
    SourceOutput,
    Synthesize,
    route_rewrites,
    stable_hash,
    summarize,
)

DATA = Path(__file__).resolve().parents[1] / "data"


def _mini_texts() -> dict[str, dict]:
    """Real documents: the gold main texts of tests/data/mini.jsonl.gz, by id."""
    docs = {}
    with gzip.open(DATA / "mini.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            try:
                doc = json.loads(line)
            except ValueError:
                continue  # the fixture's deliberately malformed line
            if doc.get("text"):
                docs[doc["id"]] = doc
    return docs


def kept_doc(record: dict, quality: float | None) -> dict:
    """A record shaped like a kept pipeline document; the quality score is test data for the select rule."""
    return {
        "id": record["id"],
        "record_id": record["id"],
        "url": record["url"],
        "source": "tests/data/mini.jsonl.gz",
        "source_format": "jsonl",
        "crawl_date": "",
        "title": "not copied",
        "language": "en",
        "language_score": 0.97,
        "text": record["text"],
        "scores": {"quality": None if quality is None else {"score": quality}, "gopher_quality": {"word_count": 300.0}},
        "decision": "keep",
    }


def _save(values, path: str) -> None:
    with open(path, "wb") as f:
        pickle.dump(values, f)


def run_synthesize(
    docs: list[dict], config: SynthConfig, tmp_path: Path, annotate_only: bool = False, argv: list[str] | None = None
) -> dict:
    """Run Synthesize on a TestPipeline; return its three outputs (rows and errors sorted, stats the dict).
    Outputs go through files: DoFns are pickled, so they cannot fill a list of the test's."""
    out = tmp_path / uuid.uuid4().hex
    out.mkdir()
    with BeamTestPipeline(options=PipelineOptions(argv or [])) as p:
        result = p | beam.Create(docs) | Synthesize(config, annotate_only)
        for tag in (SYNTHETIC, ERRORS, STATS):
            _ = (
                result[tag]
                | f"List_{tag}" >> beam.combiners.ToList()
                | f"Save_{tag}" >> beam.Map(_save, str(out / f"{tag}.pickle"))
            )
    loaded = {tag: pickle.loads((out / f"{tag}.pickle").read_bytes()) for tag in (SYNTHETIC, ERRORS, STATS)}
    [stats] = loaded[STATS]
    return {
        SYNTHETIC: sorted(loaded[SYNTHETIC], key=lambda r: r["id"]),
        ERRORS: sorted(loaded[ERRORS], key=lambda e: (e["position"], e["message"])),
        STATS: stats,
    }


def assert_consistent(stats: dict) -> None:
    """The stats' own identities: every selected document has one stage (a) outcome, every rewrite one
    outcome, every error one row, and the ratios are what the counts say."""
    assert sum(stats["sources"].values()) == stats["documents_selected"]
    assert sum(stats["pairs_repair"].values()) == stats["documents_selected"]
    assert stats["documents_in"] == (
        stats["documents_selected"] + stats["documents_not_selected"] + stats["documents_over_cap"]
    )
    outcomes = stats["rewrite_outcomes"]
    assert sum(outcomes.values()) == stats["rewrites"] == stats["pairs_kept"]  # keep + Σ drops + errors
    assert outcomes["keep"] == stats["synthetic_documents"]
    assert stats["errors"] == stats["sources"]["synth:backend"] + outcomes["synth:backend"]
    if stats["documents_selected"]:
        assert stats["expansion"]["documents"] == stats["synthetic_documents"] / stats["documents_selected"]
    if stats["words_in"]:
        assert stats["expansion"]["words"] == stats["words_out"] / stats["words_in"]


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when we leave: nothing listens there
    return f"http://127.0.0.1:{port}/v1"


# ------------------------------------------------------------------------------------ fast: no model


def test_cap_keeps_the_smallest_id_hashes_whatever_the_order():
    ids = [f"doc-{i}" for i in range(12)]
    expected = sorted(ids, key=lambda i: stable_hash(i, "synth-cap"))[:5]
    for order in (ids, ids[::-1]):
        with BeamTestPipeline() as p:
            kept, over = p | beam.Create([{"id": i} for i in order]) | CapDocuments(5)
            assert_that(kept | beam.Map(lambda d: d["id"]), equal_to(expected), label="kept")
            assert_that(over, equal_to([{"documents_over_cap": 1}] * 7), label="over")


def test_batches_depend_on_the_input_set_not_on_its_order():
    ids = [f"doc-{i:02d}" for i in range(23)]
    # ceil(23 / 4) = 6 groups by salted id hash, each sorted by id and cut into lists of at most 4.
    groups: dict[int, list[str]] = {}
    for i in sorted(ids):
        groups.setdefault(stable_hash(i, "synth-batch") % 6, []).append(i)
    expected = [tuple(g[k : k + 4]) for g in groups.values() for k in range(0, len(g), 4)]
    assert len(expected) >= 6 and sorted(i for b in expected for i in b) == ids
    for order in (ids, ids[::-1]):
        with BeamTestPipeline() as p:
            out = p | beam.Create([{"id": i} for i in order]) | DeterministicBatches(4)
            assert_that(out | beam.Map(lambda b: tuple(d["id"] for d in b)), equal_to(expected))


def _rewrite(k: int, text: str | None, reason: str | None, error: str | None = None) -> maga.Rewrite:
    pair = maga.Pair(f"A letter number {k} to a class.", "Pupils aged twelve who like science.")
    prov = maga.provenance(
        source_id="doc-1",
        pair=pair,
        pair_index=k,
        prompts={"pairs": maga.load_prompt("pairs_v1"), "rewrite": maga.load_prompt("rewrite_v1")},
        backend="transformers",
        model="m",
        sampling={"pairs": SamplingParams(), "rewrite": SamplingParams(max_tokens=9)},
        scores={"words": 3.0, "judge": math.nan},
        pairs_repair="none",
        source_chars=40,
        source_truncated=False,
    )
    return maga.Rewrite(f"rw-{k}", "doc-1", k, pair, text, {}, reason, error, prov if error is None else {})


def test_route_writes_kept_rewrites_errors_and_a_delta_that_adds_up():
    doc = {
        "id": "doc-1",
        "record_id": "r1",
        "url": "https://a.example/x",
        "source": "f.jsonl",
        "text": "one two three four",
        "source_format": "jsonl",
        "crawl_date": "",
        "language": "en",
    }
    pairs = maga.PairsOutcome("doc-1", [maga.Pair("g", "a")] * 3, "local", {"proposed": 4.0})
    result = maga.SourceResult(
        "doc-1",
        pairs,
        [
            _rewrite(2, "a rewrite that failed", "synth:echo"),
            _rewrite(0, "the kept rewrite here", None),
            _rewrite(1, None, None, error="gave up after 4 attempts: ConnectError"),
        ],
    )
    output = SourceOutput(result, "tok", 7, {"rw-0": 5, "rw-2": 6})
    filtered, annotated = route_rewrites(doc, output, False), route_rewrites(doc, output, True)
    assert [r["id"] for r in filtered.rows] == ["rw-0"] and filtered.rows[0]["decision"] == "keep"
    assert [(r["id"], r["decision"]) for r in annotated.rows] == [("rw-0", "keep"), ("rw-2", "synth:echo")]
    row = filtered.rows[0]
    assert (row["url"], row["source"], row["record_id"], row["language"]) == (doc["url"], "f.jsonl", "r1", "en")
    assert row["title"] is None and row["scores"] is None and row["recipe_hash"] is None
    assert row["provenance"]["scores"]["judge"] is None and row["provenance"]["prompt_names"]["reask"] is None
    pa.Table.from_pylist(annotated.rows, schema=SYNTHETIC_SCHEMA)
    [error] = filtered.errors
    assert error == {
        "source": "f.jsonl",
        "position": "doc-1",
        "record_id": "r1",
        "url": doc["url"],
        "reason": "synth:backend",
        "message": "rewrite 1 (rw-1): gave up after 4 attempts: ConnectError",
    }
    counts = {k: v for k, v in filtered.stats.items() if k != "tokenizer"}
    assert filtered.stats["tokenizer"] == "tok" and "documents_in" not in counts  # Select counts what comes in
    stats = summarize({**counts, "documents_in": 1}, {"tok"}, "transformers", "m", False)
    assert stats["rewrite_outcomes"] == {"keep": 1, "synth:backend": 1, "synth:echo": 1}
    assert (stats["words_out"], stats["tokens_out"], stats["tokens_in"], stats["errors"]) == (4, 5, 7, 1)
    assert stats["pairs_proposed"] == 4 and stats["pairs_repair"]["local"] == 1 and stats["sources_expanded"] == 1
    assert_consistent(stats)
    assert annotated.stats["synthetic_rows"] == 2 and filtered.stats["synthetic_rows"] == 1


def test_stats_of_nothing_are_zeros_and_undefined_ratios():
    stats = summarize({}, set(), "openai", "m", False)
    assert stats["documents_selected"] == 0 and stats["tokens_in"] is None and stats["tokenizer"] is None
    assert stats["expansion"] == {"documents": None, "words": None, "tokens": None}
    assert_consistent(stats)


def test_a_server_that_is_down_gives_error_rows_and_the_job_completes(tmp_path):
    """The whole graph (select, cap, batches, RunInference, route, stats) with a real OpenAI backend whose
    server is not there: every selected document becomes one synth:backend error row."""
    texts = list(_mini_texts().values())[:6]
    docs = [kept_doc(t, q) for t, q in zip(texts, [0.9, 0.8, 0.7, 0.6, 0.3, None], strict=True)]
    config = SynthConfig(
        enabled=True,
        backend="openai",
        url=_dead_url(),
        model="served-model",
        max_retries=0,
        max_documents=3,
        batch_size=2,
    )
    out = run_synthesize(docs + [dict(docs[0], id="dropped", decision="gopher_quality:min_words")], config, tmp_path)
    eligible = [d["id"] for d in docs[:4]]
    chosen = sorted(eligible, key=lambda i: stable_hash(i, "synth-cap"))[:3]
    assert out[SYNTHETIC] == []
    assert [e["position"] for e in out[ERRORS]] == sorted(chosen)
    for error in out[ERRORS]:
        assert error["reason"] == "synth:backend" and error["source"] == "tests/data/mini.jsonl.gz"
        assert error["message"].startswith("pairs: gave up after 1 attempts: ConnectError")
    pa.Table.from_pylist(out[ERRORS], schema=ERROR_SCHEMA)
    stats = out[STATS]
    assert (stats["documents_in"], stats["documents_not_selected"], stats["documents_over_cap"]) == (6, 2, 1)
    assert stats["sources"]["synth:backend"] == 3 == stats["errors"] and stats["rewrites"] == 0
    assert stats["backend"] == "openai" and stats["model"] == "served-model" and stats["tokenizer"] is None
    assert stats["expansion"]["documents"] == 0.0 and stats["tokens_in"] is None
    assert_consistent(stats)


def test_nothing_selected_still_gives_one_stats_dict(tmp_path):
    docs = [kept_doc(t, 0.1) for t in list(_mini_texts().values())[:2]]
    config = SynthConfig(enabled=True, backend="openai", url=_dead_url(), model="m", max_retries=0)
    out = run_synthesize(docs, config, tmp_path)
    assert out[SYNTHETIC] == [] and out[ERRORS] == []
    assert out[STATS] == summarize({"documents_in": 2, "documents_not_selected": 2}, set(), "openai", "m", False)


# ------------------------------------------------------------------------- real generation (slow)


#: Tiny generations (CPU, shared cores). ``min_pair_words=1`` lets SmolLM2's one-word labels through and
#: the truncation check is off (every 48-token rewrite is cut), so a 135M model yields rewrites at all;
#: the other checks run with their default thresholds.
SMALL = dict(
    enabled=True,
    num_threads=1,
    n_pairs=2,
    batch_size=2,
    pairs_max_tokens=160,
    rewrite_max_tokens=48,
    max_source_chars=600,
    min_pair_words=1,
    rules={"truncated": []},
)


def _in_process_docs() -> list[dict]:
    texts = _mini_texts()
    return [
        kept_doc(texts["mw-0259"], 0.9),
        kept_doc(texts["mw-0126"], 0.8),
        kept_doc(texts["mw-0168"], 0.2),  # below the select rule: never sent to the model
    ]


@pytest.mark.slow
def test_in_process_default_model_is_deterministic_and_annotate_only_adds_the_rejected(local_lm, tmp_path):
    """The out-of-the-box path (embedded GGUF, default temperature 0.7 and seed): a filter run, then an
    annotate-only run with the input reversed on two worker threads. Same rewrites, same ids, same stats."""
    config = SynthConfig(**SMALL)
    docs = _in_process_docs()
    t0 = time.perf_counter()
    filtered = run_synthesize(docs, config, tmp_path)
    t1 = time.perf_counter()
    annotated = run_synthesize(
        docs[::-1],
        config,
        tmp_path,
        annotate_only=True,
        argv=["--direct_running_mode=multi_threading", "--direct_num_workers=2"],
    )
    print(f"filter run {t1 - t0:.0f}s, annotate-only run {time.perf_counter() - t1:.0f}s")

    stats = filtered[STATS]
    assert_consistent(stats)
    assert (stats["documents_in"], stats["documents_selected"], stats["documents_not_selected"]) == (3, 2, 1)
    assert stats["backend"] == "transformers" and stats["model"] == stats["tokenizer"] == DEFAULT_GGUF
    assert stats["tokens_in"] > stats["words_in"] > 0 and stats["errors"] == 0 and not filtered[ERRORS]
    assert stats["synthetic_documents"] >= 1, f"SmolLM2 kept no rewrite with these settings: {stats}"
    assert stats["tokens_out"] > 0 and stats["expansion"]["tokens"] == stats["tokens_out"] / stats["tokens_in"]

    rows = filtered[SYNTHETIC]
    table = pa.Table.from_pylist(rows, schema=SYNTHETIC_SCHEMA)
    assert table.num_rows == stats["synthetic_documents"] == len({r["id"] for r in rows})
    sources = {d["id"]: d for d in docs}
    for row in rows:
        prov = row["provenance"]
        source = sources[prov["source_id"]]
        assert row["decision"] == "keep" and row["text"].strip() and row["url"] == source["url"]
        assert row["source"] == source["source"] and row["title"] is None and row["scores"] is None
        assert (
            prov["method"] == "maga"
            and prov["genre"]
            and prov["audience"]
            and prov["pairs_repair"] in ("none", "local", "reask")
        )
        assert prov["backend"] == "transformers" and prov["model"] == DEFAULT_GGUF
        assert prov["prompt_sha256"]["rewrite"] == maga.load_prompt("rewrite_v2").sha256
        assert (  # budget: 1.5 x a 600-character excerpt's tokens is over the 48-token cap
            prov["sampling"]["rewrite"] == SamplingParams(max_tokens=48, temperature=0.7, top_p=0.9, seed=0).as_dict()
        )
        assert prov["sampling"]["judge"] is None and prov["scores"]["judge"] is None
        assert prov["scores"]["keyword_coverage"] >= 0.3 and prov["source_chars"] <= 600
        assert row["id"] == maga.synthetic_id(
            prov["source_id"],
            prov["pair_index"],
            maga.Pair(prov["genre"], prov["audience"]),
            prov["prompt_sha256"]["rewrite"],
            DEFAULT_GGUF,
        )

    # Annotate-only: its kept rows are exactly the filter run's rows; the rejected ones come in addition.
    again = annotated[SYNTHETIC]
    assert [r for r in again if r["decision"] == "keep"] == rows
    assert all(r["decision"].startswith("synth:") for r in again if r["decision"] != "keep")
    assert len(again) == stats["rewrites"] - stats["rewrite_outcomes"]["synth:backend"]
    pa.Table.from_pylist(again, schema=SYNTHETIC_SCHEMA)
    same = {k: v for k, v in annotated[STATS].items() if k not in ("annotate_only", "synthetic_rows")}
    assert same == {k: v for k, v in stats.items() if k not in ("annotate_only", "synthetic_rows")}
    assert annotated[STATS]["synthetic_rows"] == len(again)


@pytest.fixture(scope="module")
def smol_dir(local_lm, tmp_path_factory) -> Path:
    """The embedded model as a Hugging Face folder: what ``transformers serve`` can serve."""
    return TransformersBackend(num_threads=1).load().export(tmp_path_factory.mktemp("smollm2-hf"))


def _serving(model_dir: Path, log: Path):
    pytest.importorskip("fastapi", reason="transformers serve needs transformers[serving]")
    pytest.importorskip("uvicorn", reason="transformers serve needs transformers[serving]")
    return serve.transformers_serve(model_dir, log)


@pytest.mark.slow
def test_malformed_stage_a_json_from_a_real_server_is_a_json_drop(smol_dir, tmp_path):
    """8 tokens cannot hold a pair list: the real answers are cut-off JSON (or prose), local repair finds
    no complete pair, the re-ask goes to the server and is cut off too: synth:json, not an error."""
    log = tmp_path / "serve.log"
    docs = _in_process_docs()[:2]
    with _serving(smol_dir, log) as (url, _):
        config = SynthConfig(
            enabled=True,
            backend="openai",
            url=url,
            model=str(smol_dir),
            tokenizer=str(smol_dir),
            n_pairs=2,
            pairs_max_tokens=8,
            pair_catalogue=None,  # without the catalogue, an unreadable pair list drops the document
            temperature=0.0,
            max_source_chars=600,
            timeout_s=120,
        )
        out = run_synthesize(docs, config, tmp_path)
        requests = log.read_text().count("Request received")
    stats = out[STATS]
    assert_consistent(stats)
    assert stats["sources"]["synth:json"] == 2 and stats["pairs_repair"]["failed"] == 2
    assert requests == 4  # two first answers and two re-asks, all generated by the server
    assert out[SYNTHETIC] == [] and out[ERRORS] == [] and stats["rewrites"] == 0
    assert stats["backend"] == "openai" and stats["model"] == str(smol_dir) and stats["tokenizer"] == smol_dir.name
    assert stats["tokens_in"] > 0 and stats["expansion"]["documents"] == 0.0


@pytest.mark.slow
def test_server_killed_mid_run_gives_error_rows_and_the_pipeline_completes(smol_dir, tmp_path):
    log = tmp_path / "serve.log"
    docs = _in_process_docs()[:2]
    with _serving(smol_dir, log) as (url, proc):
        config = SynthConfig(
            enabled=True,
            backend="openai",
            url=url,
            model=str(smol_dir),
            n_pairs=2,
            pairs_max_tokens=200,
            max_source_chars=600,
            timeout_s=60,
            max_retries=2,
            concurrency=2,
        )

        def kill_when_generating() -> None:
            deadline = time.monotonic() + 120
            while b"Request received" not in log.read_bytes() and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)  # generation is under way
            proc.send_signal(signal.SIGKILL)

        killer = threading.Thread(target=kill_when_generating, daemon=True)
        killer.start()
        out = run_synthesize(docs, config, tmp_path)
        killer.join(timeout=5)
        assert proc.poll() is not None  # it was killed during the run, not after
    stats = out[STATS]
    assert_consistent(stats)
    assert out[SYNTHETIC] == [] and stats["sources"]["synth:backend"] == 2 == stats["errors"]
    assert [e["position"] for e in out[ERRORS]] == sorted(d["id"] for d in docs)
    for error in out[ERRORS]:
        assert error["reason"] == "synth:backend" and error["url"] and error["source"] == "tests/data/mini.jsonl.gz"
        assert error["message"].startswith("pairs: gave up after 3 attempts")  # the retries happened
    pa.Table.from_pylist(out[ERRORS], schema=ERROR_SCHEMA)
