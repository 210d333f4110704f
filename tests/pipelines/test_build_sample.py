"""The bundled sample is reproducible: two builds are byte-identical and equal the committed files.

Why: the demo WARC and the fixtures are binary blobs in the repo; the only way to trust them (and
their licences) is to prove they are exactly what ``bench/build_sample.py`` makes from the shared,
copyable sources (run as the script it is: the builder is a tool beside the benchmarks, not a module the
pipeline ships). Skips cleanly where ``../shared/data`` is not checked out beside the repo.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared" / "data"
COMMITTED_SAMPLE = REPO_ROOT / "pipelines" / "data" / "sample.warc.gz"
COMMITTED_TESTS_DATA = REPO_ROOT / "tests" / "data"
# Compared with the committed copies; Parquet is left out because its footer names the pyarrow version.
BYTE_STABLE_FIXTURES = ("mini.warc.gz", "mini.warc", "whirlwind.warc.wet.gz", "mini.jsonl.gz",
                        "mini.jsonl.zst")

pytestmark = pytest.mark.skipif(not (SHARED / "extraction").is_dir(),
                                reason=f"shared data not found at {SHARED}")


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Run the builder twice into separate temp folders (module-scoped: ~5 s per build)."""
    dirs = []
    for name in ("a", "b"):
        root = tmp_path_factory.mktemp(name)
        subprocess.run([sys.executable, str(REPO_ROOT / "bench" / "build_sample.py"), "--shared", str(SHARED),
                        "--out", str(root / "sample.warc.gz"), "--tests-out", str(root / "tests_data")],
                       check=True, capture_output=True)
        dirs.append(root)
    return dirs[0], dirs[1]


def test_two_builds_are_byte_identical(builds: tuple[Path, Path]) -> None:
    a, b = builds
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), f"{rel} differs between builds"


def test_sample_has_enough_html_responses(builds: tuple[Path, Path]) -> None:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    sample = builds[0] / "sample.warc.gz"
    html_ok = 0
    types: set[str] = set()
    with open(sample, "rb") as fh:
        for rec in ArchiveIterator(fh, parse_http=True):
            types.add(rec.headers.get("WARC-Type"))
            if rec.record_type != WarcRecordType.response or rec.http_headers is None:
                continue
            ctype = (rec.http_headers.get("Content-Type") or "").lower()
            if rec.http_headers.status_code == 200 and ctype.startswith("text/html"):
                html_ok += 1
    assert html_ok >= 300
    assert {"warcinfo", "response", "revisit", "request", "metadata"} <= types
    assert sample.stat().st_size < 16_000_000


def test_committed_sample_is_the_builders_output(builds: tuple[Path, Path]) -> None:
    assert COMMITTED_SAMPLE.is_file(), "run: python bench/build_sample.py"
    fresh = (builds[0] / "sample.warc.gz").read_bytes()
    assert COMMITTED_SAMPLE.read_bytes() == fresh, (
        "pipelines/data/sample.warc.gz is stale: rerun python bench/build_sample.py")


@pytest.mark.parametrize("name", BYTE_STABLE_FIXTURES)
def test_committed_fixture_is_the_builders_output(builds: tuple[Path, Path], name: str) -> None:
    committed = COMMITTED_TESTS_DATA / name
    assert committed.is_file(), "run: python bench/build_sample.py"
    assert committed.read_bytes() == (builds[0] / "tests_data" / name).read_bytes(), (
        f"tests/data/{name} is stale: rerun python bench/build_sample.py")
