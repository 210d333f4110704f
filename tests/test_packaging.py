"""What ships: the package Beam stages to Dataflow workers holds runtime code and its data, nothing else.

``--setup_file`` makes Beam build an sdist of this project and install it on every worker, so the file
list of ``pyproject.toml`` is what a thousand workers download: the shipped models, recipes and prompts
must be in it; the 14.8 MB demo sample, the benchmarks and the tools that rebuild data must not.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sdist_files(tmp_path_factory) -> list[str]:
    pytest.importorskip("build", reason="building the sdist needs the build package (the gcp extra)")
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("needs a git checkout: the sdist is built from the tracked files, as in a fresh clone")
    # A copy of the tracked files: a local webcurate.egg-info from an older install would add its own list.
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    copy = tmp_path_factory.mktemp("checkout")
    for name in filter(None, tracked.decode().split("\0")):
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    out = tmp_path_factory.mktemp("sdist")
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(out), str(copy)],
                   check=True, capture_output=True)
    (archive,) = out.glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        return [name.split("/", 1)[1] for name in tar.getnames() if "/" in name]


def test_workers_get_the_models_recipes_and_prompts(sdist_files):
    for name in ("filters/models/lid.176.ftz", "filters/models/quality_en.ftz", "filters/models/wiki_en.arpa.bin",
                 "filters/models/wiki_en.sp.model",
                 "pipelines/recipes/default.yaml", "synth/prompts/rewrite_v2.txt", "synth/prompts/catalogue_v1.json",
                 "pipelines/registry.py",
                 "schemas/outcomes.py"):
        assert name in sdist_files


def test_workers_do_not_get_the_sample_benchmarks_or_data_builders(sdist_files):
    assert not [n for n in sdist_files if n.startswith(("pipelines/data/", "bench/", "docs/"))]
    assert not [n for n in sdist_files if n.endswith(("build_sample.py", "build_quality_model.py", "local_server.py"))]
