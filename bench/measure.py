"""Run a command and measure what the whole process tree costs: wall, CPU, peak memory, machine load.

Both systems of the end-to-end benchmark are process trees (Beam: SDK workers plus one extraction
process per DoFn; datatrove: a pool of task processes plus one extraction sandbox each), so the
figures must cover every descendant:

* CPU time: ``getrusage(RUSAGE_CHILDREN)`` before and after. That counts a process only once it is
  waited for, and datatrove's multiprocessing forkserver is never waited for by its parent, so this
  process makes itself a child subreaper (``prctl(PR_SET_CHILD_SUBREAPER)``): orphaned descendants
  are re-parented here and reaped below, and every descendant's CPU time is counted. The per-process
  CPU times sampled while it runs are kept as a cross-check (they miss up to one interval of each
  process that exits between samples);
* memory: the tree's summed PSS (proportional set size: shared pages split between the processes that
  map them, so forked workers are not counted twice), and the largest single-process RSS, sampled
  every ``interval`` seconds;
* load: ``os.getloadavg()`` before and after, because the machine is shared and a busy neighbour
  changes wall times (compare systems measured in the same run, as ratios).
"""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import time
from dataclasses import asdict, dataclass

import psutil

PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def _reap_orphans(deadline_s: float) -> None:
    """Wait for descendants re-parented to us; kill what is still running after ``deadline_s``."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() > end:
                for child in psutil.Process().children():
                    child.kill()
                end = float("inf")
            time.sleep(0.05)


@dataclass
class Measured:
    returncode: int
    wall_s: float
    cpu_s: float
    cpu_sampled_s: float
    peak_pss_mb: float
    peak_rss_one_mb: float
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    killed_over_mb: float | None = None  # set when the tree passed max_pss_mb and was killed

    def as_dict(self) -> dict:
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def run_measured(cmd: list[str], *, env: dict | None = None, cwd: str | None = None, log_path: str | None = None,
                 interval: float = 0.5, max_pss_mb: float | None = None) -> Measured:
    """Run ``cmd`` to completion (output to ``log_path`` or discarded) and measure it.

    ``max_pss_mb``: kill the whole tree once its memory passes this (the machine is shared: a run
    that would take all of it must fail alone, not take the neighbours down with it).
    """
    _become_subreaper()
    load_before = os.getloadavg()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    if log_path:  # bench/out/ is git-ignored: a fresh checkout has none
        os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    start = time.perf_counter()
    proc = psutil.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    cpu_by_pid: dict[int, float] = {}
    peak_pss = peak_one = 0
    killed = None
    try:
        while proc.poll() is None:
            pss = 0
            for p in psutil.Process().children(recursive=True):  # includes re-parented orphans
                try:
                    mem = p.memory_full_info()
                    times = p.cpu_times()
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                pss += mem.pss
                peak_one = max(peak_one, mem.rss)
                cpu_by_pid[p.pid] = times.user + times.system
            peak_pss = max(peak_pss, pss)
            if max_pss_mb and pss > max_pss_mb * 2**20:
                killed = pss / 2**20
                for p in psutil.Process().children(recursive=True):
                    p.kill()
                break
            time.sleep(interval)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        wall = time.perf_counter() - start
        _reap_orphans(30.0)
        if log_path:
            log.close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measured(proc.returncode, wall, cpu, sum(cpu_by_pid.values()), peak_pss / 2**20, peak_one / 2**20,
                    load_before, os.getloadavg(), killed)
