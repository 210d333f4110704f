"""The local DirectRunner, made to use the machine and to speak plainly.

Beam's DirectRunner runs a batch job on one in-memory worker unless told otherwise, so a laptop with 8
cores curates on one. ``local_defaults`` gives a local run one worker per core unless the command line says
how to run:

* up to ``THREADS_UP_TO`` cores, threads in the launching process (Beam's in-memory runner with several
  workers). Extraction, ~3/4 of the work, runs outside the GIL anyway: each thread's Extract has its own
  extraction process (pipelines/extract.py). Measured here (bench/startup.py, 2 cores, the bundled sample,
  same bytes out): 13.7 s wall against 17.0 s with two worker processes and 17.8 s on one worker; no
  second copy of Beam's worker, its imports and its models, no gRPC copy of every record, half the memory.
* above it, worker processes (``multi_processing``): the rest of the work (19.6 CPU s in the launching
  process against 63.8 s in the extraction processes on the 1x bench corpus) would otherwise bind on the
  GIL at about 3.8 cores.

``WorkerLogs`` turns what worker processes log back into the run's own progress lines (Beam forwards each
as ``Worker: <a LogEntry protobuf as text>`` and adds two start-up warnings per worker that are of no use
to a user); ``quiet_beam`` drops Beam's warning that in-memory workers give no parallelism, which is
untrue here: the threads wait on extraction processes.
"""

from __future__ import annotations

import argparse
import logging
import os

from google.protobuf import text_format

_DIRECT_RUNNERS = ("", "direct", "directrunner", "bundlebaseddirectrunner", "fnapirunner", "prism", "prismrunner")
# Threads up to this many workers, worker processes above (see the module doc).
THREADS_UP_TO = 4
# Said by every worker at start-up, about options and a directory the local runner never uses.
_NOISE = ("No semi_persistent_directory found", "Discarding unparseable args")
# The packages whose loggers are the run's own (progress lines, warnings), in this process or a worker's.
PROJECT_PACKAGES = ("pipelines", "filters", "dedup", "synth", "schemas")
# Where a worker's log lines arrive in the launching process.
JOB_SERVICE_LOGGER = "apache_beam.runners.portability.local_job_service"
_FN_RUNNER_LOGGER = "apache_beam.runners.portability.fn_api_runner.fn_runner"


def is_local(runner: str | None) -> bool:
    return (runner or "").lower() in _DIRECT_RUNNERS


def cores() -> int:
    """The cores this process may run on (its CPU affinity: a container's or a taskset's share, not the
    host's count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def local_defaults(beam_args: list[str], available: int | None = None) -> list[str]:
    """``beam_args`` plus how to run when the run is local: ``--direct_num_workers`` (default: the cores)
    workers, in memory up to ``THREADS_UP_TO`` of them, else ``multi_processing``. A running mode that is
    given is kept; ``multi_processing`` or ``multi_threading`` without a worker count gets one per core
    (Beam would run one), an explicit ``in_memory`` stays Beam's single worker."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--runner", default="")
    parser.add_argument("--direct_num_workers", type=int, default=None)
    parser.add_argument("--direct_running_mode", default=None)
    known = parser.parse_known_args(beam_args)[0]
    if not is_local(known.runner):
        return beam_args
    available = available or cores()
    if known.direct_running_mode is not None:
        if known.direct_running_mode != "in_memory" and known.direct_num_workers is None:
            return [*beam_args, f"--direct_num_workers={available}"]
        return beam_args
    workers = known.direct_num_workers or available  # Beam's 0 also means every core
    extra = [] if known.direct_num_workers is not None else [f"--direct_num_workers={workers}"]
    mode = "in_memory" if workers <= THREADS_UP_TO else "multi_processing"
    return [*beam_args, f"--direct_running_mode={mode}", *extra]


class _ThreadsWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "direct_running_mode should be" not in str(record.msg)


def quiet_beam() -> None:
    """Drop Beam's warning that several in-memory workers give no parallelism (ours wait on extraction
    processes, outside the GIL)."""
    logger = logging.getLogger(_FN_RUNNER_LOGGER)
    if not any(isinstance(f, _ThreadsWarning) for f in logger.filters):
        logger.addFilter(_ThreadsWarning())


class WorkerLogs(logging.Filter):
    """On the job service's logger (set to INFO so that workers' progress lines reach it): a worker's line
    from this project's code becomes a plain record of its own logger (``pipelines``, ``filters``, ...: same
    format, same ``--quiet``), Beam's start-up chatter is dropped, and anything else, a worker's or the job
    service's own, is kept from WARNING up, a worker's unwrapped."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not (isinstance(record.msg, str) and record.msg.startswith("Worker: ") and record.args):
            return record.levelno >= logging.WARNING
        entry = _log_entry(str(record.args[0]))
        if entry is None:
            return record.levelno >= logging.WARNING
        message, location, trace = entry
        if any(noise in message for noise in _NOISE):
            return False
        package = _package_of(location)
        if package in PROJECT_PACKAGES:
            logging.getLogger(package).log(record.levelno, "%s", message)
            return False
        record.msg, record.args = "worker: %s", (f"{message}\n{trace}" if trace else message,)
        return record.levelno >= logging.WARNING


def _log_entry(text: str) -> tuple[str, str, str] | None:
    from apache_beam.portability.api import beam_fn_api_pb2

    entry = beam_fn_api_pb2.LogEntry()
    try:
        text_format.Parse(text, entry)
    except text_format.ParseError:
        return None
    return entry.message, entry.log_location, entry.trace


_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _package_of(location: str) -> str:
    """``<this project>/pipelines/extract.py:88`` → ``pipelines``; "" for a file outside the project (another
    library's own ``pipelines`` folder is not ours)."""
    path = os.path.abspath(location.rsplit(":", 1)[0])
    if not path.startswith(_ROOT + os.sep):
        return ""
    return os.path.relpath(path, _ROOT).split(os.sep)[0]
