"""Progress lines: counts, recent rates and an ETA per run; silent with -q; Beam counters for Dataflow."""

from __future__ import annotations

import io

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline

from pipelines.extract import ExtractConfig
from pipelines.progress import CountingReader, Progress, ProgressPlan
from pipelines.readers import ReadConfig, TextColumns
from pipelines.run import main
from pipelines.transforms import ExtractText, Read


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_lines_count_rates_and_eta():
    clock = Clock()
    progress = Progress(total_files=2, total_bytes=1000, clock=clock)
    progress.opened("gs://bucket/a.warc.gz", 600)
    progress.read("gs://bucket/a.warc.gz", 100, 300)
    progress.extracted("gs://bucket/a.warc.gz", 50)
    clock.now += 10
    lines = progress.lines()
    # half of a's bytes read (300 of 1000 = 30% of the input), half of what was read extracted: 15% done
    assert lines[0] == ("progress: 0/2 files read, 100 records (10/s), 50 extracted (5/s), 300 B of 1.0 kB read, "
                        "15% done, ETA 57s, 10s in")
    assert lines[1] == "  a.warc.gz: 100 records, 50 extracted, 50% of 600 B"
    progress.read("gs://bucket/a.warc.gz", 100, 600)
    progress.finished("gs://bucket/a.warc.gz")
    progress.extracted("gs://bucket/a.warc.gz", 150)
    clock.now += 5
    lines = progress.lines()
    assert lines[0].startswith("progress: 1/2 files read, 200 records (20/s), 200 extracted (30/s), 600 B of 1.0 kB read, "
                               "60% done, ETA 10s, 15s in")
    assert len(lines) == 1  # no file is being read


def test_no_eta_without_sizes_and_many_files_are_summed_up():
    progress = Progress(total_files=9, clock=Clock())
    for i in range(6):
        progress.read(f"part-{i}.jsonl", 10 + i, 0)
    lines = progress.lines()
    assert "ETA" not in lines[0] and lines[-1] == "  ... and 2 more files being read"
    assert lines[1].startswith("  part-5.jsonl: 15 records")  # the busiest first


def test_counting_reader_counts_what_is_read():
    reader = CountingReader(io.BytesIO(b"x" * 1000))
    reader.read(100)
    buffer = bytearray(50)
    reader.readinto(buffer)
    assert reader.count == 150 and reader.tell() == 150


def test_a_run_logs_progress_and_is_quiet_with_q(data_dir, tmp_path, capsys):
    source = str(data_dir / "mini.warc.gz")
    assert main(["--input", source, "--output", str(tmp_path / "a"), "--progress_every", "0.2"]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if " progress: " in line]
    assert lines and "1/1 files read" in lines[-1] and "extracted" in lines[-1] and "ETA" in err
    assert main(["--input", source, "--output", str(tmp_path / "b"), "--progress_every", "0.2", "-q"]) == 0
    assert "progress:" not in capsys.readouterr().err


def test_read_and_extract_count_bytes_records_and_pages_as_beam_counters(data_dir):
    source = data_dir / "mini.warc.gz"
    plan = ProgressPlan("counters-test", None, 1, source.stat().st_size)
    pipeline = BeamTestPipeline()
    docs = (pipeline | beam.Create([str(source)])
            | Read(None, TextColumns(), ReadConfig(), False, False, plan))
    _ = docs["docs"] | ExtractText(ExtractConfig(), False, plan)
    result = pipeline.run()
    result.wait_until_finish()

    def counter(namespace: str, name: str) -> int:
        found = result.metrics().query(MetricsFilter().with_namespace(namespace).with_name(name))["counters"]
        return sum(c.committed for c in found)

    assert counter("read", "bytes") == source.stat().st_size
    assert counter("read", "records") > 0
    assert 0 < counter("extract", "pages") <= counter("read", "records")
    assert plan.tracker().lines()[0].startswith("progress: 1/1 files read")
