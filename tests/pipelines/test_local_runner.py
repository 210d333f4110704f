"""How a local run is set up (workers, threads or processes) and how worker processes' log lines read."""

from __future__ import annotations

import logging

import pytest
from apache_beam.portability.api import beam_fn_api_pb2

from pipelines.local_runner import JOB_SERVICE_LOGGER, THREADS_UP_TO, WorkerLogs, cores, local_defaults
from pipelines.local_runner import _ROOT as PROJECT


@pytest.mark.parametrize("args, cores, expected", [
    ([], 2, ["--direct_running_mode=in_memory", "--direct_num_workers=2"]),
    ([], THREADS_UP_TO + 1, ["--direct_running_mode=multi_processing", f"--direct_num_workers={THREADS_UP_TO + 1}"]),
    ([], 1, ["--direct_running_mode=in_memory", "--direct_num_workers=1"]),
    (["--direct_num_workers=8"], 2, ["--direct_num_workers=8", "--direct_running_mode=multi_processing"]),
    (["--direct_num_workers", "1"], 16, ["--direct_num_workers", "1", "--direct_running_mode=in_memory"]),
    (["--direct_num_workers=0"], 16, ["--direct_num_workers=0", "--direct_running_mode=multi_processing"]),
    (["--direct_running_mode=multi_threading"], 16, ["--direct_running_mode=multi_threading", "--direct_num_workers=16"]),
    (["--direct_running_mode", "multi_processing", "--direct_num_workers=3"], 16,
     ["--direct_running_mode", "multi_processing", "--direct_num_workers=3"]),  # both said: kept
    (["--direct_running_mode=in_memory"], 16, ["--direct_running_mode=in_memory"]),  # Beam's one worker
    (["--runner", "DataflowRunner"], 16, ["--runner", "DataflowRunner"]),  # not local: untouched
    (["--runner=DirectRunner"], 2, ["--runner=DirectRunner", "--direct_running_mode=in_memory", "--direct_num_workers=2"]),
])
def test_a_local_run_uses_every_core_unless_told(args, cores, expected):
    assert local_defaults(args, available=cores) == expected


def _worker_line(message: str, location: str, severity=beam_fn_api_pb2.LogEntry.Severity.INFO) -> str:
    entry = beam_fn_api_pb2.LogEntry(message=message, log_location=location, severity=severity)
    return str(entry).replace("\n", " ")  # as Beam's job service logs it


@pytest.fixture
def service(caplog):
    logger = logging.getLogger(JOB_SERVICE_LOGGER)
    logger.addFilter(worker_logs := WorkerLogs())
    caplog.set_level(logging.INFO)
    yield logger
    logger.removeFilter(worker_logs)


def test_a_workers_progress_line_becomes_the_runs_own(service, caplog):
    ours = logging.getLogger("pipelines")
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append
    ours.addHandler(handler)
    level, ours.level = ours.level, logging.INFO  # an earlier -q run in this process leaves it at WARNING
    try:
        service.info("Worker: %s", _worker_line("extract: 100 pages", f"{PROJECT}/pipelines/transforms.py:130"))
        # another library's own "pipelines" folder is not ours: its INFO line stays Beam's, and is dropped
        service.info("Worker: %s", _worker_line("loading", "/venv/site-packages/transformers/pipelines/base.py:9"))
    finally:
        ours.removeHandler(handler)
        ours.setLevel(level)
    assert [r.getMessage() for r in seen] == ["extract: 100 pages"]
    assert not [r for r in caplog.records if r.name == JOB_SERVICE_LOGGER]  # not printed twice


def test_beams_start_up_chatter_is_dropped_and_other_warnings_kept(service, caplog):
    location = "/venv/site-packages/apache_beam/runners/worker/sdk_worker_main.py:421"
    warn = beam_fn_api_pb2.LogEntry.Severity.WARN
    service.warning("Worker: %s", _worker_line("No semi_persistent_directory found: ...", location, warn))
    service.info("Worker: %s", _worker_line("Creating insecure control channel", location))
    service.warning("Worker: %s", _worker_line("disk almost full", location, warn))
    assert [r.getMessage() for r in caplog.records if r.name == JOB_SERVICE_LOGGER] == ["worker: disk almost full"]


def test_cores_are_the_ones_this_process_may_use():
    assert 1 <= cores() <= (__import__("os").cpu_count() or 1)
