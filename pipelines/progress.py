"""Progress of a long run: records read and pages extracted per input file, rates, and an ETA.

Reading and extraction report to one ``Progress`` per worker process (``tracker``); a daemon thread logs
its lines every ``interval_s`` seconds while something moves, through the ``pipelines`` logger, so ``-q``
(which raises that logger to WARNING) silences it. On the local runners the workers are threads of the
launching process (one tally for the whole run) or, above four cores, worker processes whose lines Beam's
job service forwards (``local_runner.WorkerLogs``), one tally each. On Dataflow the same lines go to the
worker logs, and the Beam counters ``read/bytes``, ``read/records`` and ``extract/pages`` show the whole
job's progress in its monitoring page.

The ETA: the share of the input's bytes read, times the share of the documents read that extraction has
handled (when records are spread over the workers, reading races ahead of extraction), extrapolated at
the rate so far. The formatting is a pure function of the counts (``Progress.lines``).
"""

from __future__ import annotations

import logging
import posixpath
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: The input files listed by name in a progress line (the busiest first); the rest are a count.
FILES_LISTED = 4


@dataclass
class FileTally:
    records: int = 0  # documents read (non-document WARC records are not counted)
    extracted: int = 0  # pages extraction handled (text inputs: passed through)
    bytes: int = 0  # bytes of the file read so far (compressed, as stored)
    size: int | None = None
    done: bool = False


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _size(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{int(n)} B"


class Progress:
    """This process's tally of the run: thread-safe updates, lines on demand."""

    def __init__(self, total_files: int = 0, total_bytes: int | None = None, clock=time.monotonic):
        self.total_files = total_files
        self.total_bytes = total_bytes
        self.clock = clock
        self.started: float | None = None
        self.files: dict[str, FileTally] = {}
        self.lock = threading.Lock()
        self.version = 0  # bumped by every update: the logger stays quiet while nothing moves
        self._last: tuple[float, int, int] | None = None  # (time, records, extracted) at the previous lines()

    def _file(self, path: str) -> FileTally:
        if self.started is None:
            self.started = self.clock()
        return self.files.setdefault(path, FileTally())

    def opened(self, path: str, size: int | None) -> None:
        with self.lock:
            self._file(path).size = size
            self.version += 1

    def read(self, path: str, records: int, position: int) -> None:
        """``records`` more documents read from ``path``, whose first ``position`` bytes are now read."""
        with self.lock:
            tally = self._file(path)
            tally.records += records
            tally.bytes = max(tally.bytes, position)
            self.version += 1

    def finished(self, path: str) -> None:
        with self.lock:
            tally = self._file(path)
            tally.done = True
            if tally.size is not None:
                tally.bytes = tally.size
            self.version += 1

    def extracted(self, path: str, pages: int = 1) -> None:
        with self.lock:
            self._file(path).extracted += pages
            self.version += 1

    def lines(self) -> list[str]:
        """The progress lines now: the totals, rates and ETA, then the busiest unfinished files."""
        with self.lock:
            if self.started is None:
                return []
            now = self.clock()
            elapsed = max(now - self.started, 1e-9)
            files = dict(self.files)
            tallies = list(files.values())
            records = sum(t.records for t in tallies)
            extracted = sum(t.extracted for t in tallies)
            done = sum(t.done for t in tallies)
            read_bytes = sum(t.bytes for t in tallies)
            total_files = max(self.total_files, len(files))
            since, records_then, extracted_then = self._last or (self.started, 0, 0)
            self._last = (now, records, extracted)
            span = max(now - since, 1e-9)  # rates over the last interval: what the run does now
            head = (f"progress: {done}/{total_files} files read, {records:,} records "
                    f"({(records - records_then) / span:,.0f}/s), {extracted:,} extracted "
                    f"({(extracted - extracted_then) / span:,.0f}/s)")
            total_bytes = self.total_bytes
            if total_bytes:
                share = min(read_bytes / total_bytes, 1.0) * (min(extracted / records, 1.0) if records else 0.0)
                head += f", {_size(read_bytes)} of {_size(total_bytes)} read"
                if share > 0:
                    head += f", {share:.0%} done, ETA {_duration(elapsed * (1 - share) / share)}"
            lines = [head + f", {_duration(elapsed)} in"]
            busy = sorted(((p, t) for p, t in files.items() if not t.done), key=lambda pt: (-pt[1].records, pt[0]))
            for path, tally in busy[:FILES_LISTED]:
                where = f", {tally.bytes / tally.size:.0%} of {_size(tally.size)}" if tally.size else ""
                lines.append(f"  {posixpath.basename(path)}: {tally.records:,} records, {tally.extracted:,} "
                             f"extracted{where}")
            if len(busy) > FILES_LISTED:
                lines.append(f"  ... and {len(busy) - FILES_LISTED} more files being read")
            return lines


@dataclass(frozen=True)
class ProgressPlan:
    """What the workers need to report progress: the run (one tally per run and process), how often to
    log (None: never, ``-q``) and the input's size, for the ETA."""

    run_id: str
    interval_s: float | None = 10.0
    files: int = 0
    bytes: int | None = None

    def tracker(self) -> "Progress":
        return tracker(self.run_id, self.interval_s, self.files, self.bytes)


_TRACKERS: dict[str, Progress] = {}
_GUARD = threading.Lock()


def tracker(run_id: str, interval_s: float | None, total_files: int = 0, total_bytes: int | None = None) -> Progress:
    """This process's ``Progress`` of run ``run_id``; the first call starts its logger thread (none when
    ``interval_s`` is None, or the ``pipelines`` logger is above INFO: ``-q``)."""
    with _GUARD:
        progress = _TRACKERS.get(run_id)
        if progress is None:
            _TRACKERS.clear()  # one run at a time per process: an earlier run's tally is done with
            progress = _TRACKERS[run_id] = Progress(total_files, total_bytes)
            if interval_s and log.isEnabledFor(logging.INFO):
                threading.Thread(target=_log_every, args=(run_id, progress, interval_s), daemon=True,
                                 name="webcurate-progress").start()
        return progress


def stop(run_id: str) -> None:
    """The run is over: its logger thread ends at its next wake-up without another line."""
    with _GUARD:
        _TRACKERS.pop(run_id, None)


def _log_every(run_id: str, progress: Progress, interval_s: float) -> None:
    seen = -1
    while True:
        time.sleep(interval_s)
        if _TRACKERS.get(run_id) is not progress:
            return  # another run started in this process
        if progress.version != seen:
            seen = progress.version
            for line in progress.lines():
                log.info("%s", line)


class CountingReader:
    """A binary file wrapper that counts the bytes read through it (the reader's position for the ETA)."""

    def __init__(self, handle):
        self.handle = handle
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.count += len(data)
        return data

    def readinto(self, buffer) -> int:
        n = self.handle.readinto(buffer)
        self.count += n or 0
        return n

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()
        return False
