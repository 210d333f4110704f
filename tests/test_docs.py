"""The docs' worked example is a real change to this tree: the diff in docs/ARCHITECTURE.md that adds a
heuristic stage applies to a copy of the tree, and the tests it touches pass there. When it stops
applying, make the change again on a copy of the tree, run the tests there, and paste the new ``git diff``."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_worked_example_applies_and_its_tests_pass(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout (the copy is made of the tracked files)")
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    (diff,) = re.findall(r"```diff\n(.*?)\n```", text, re.S)
    touched = re.findall(r"^diff --git a/(\S+)", diff, re.M)
    assert {"filters/heuristics.py", "filters/registry.py", "pipelines/recipes/default.yaml"} <= set(touched)

    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    copy = tmp_path / "tree"
    for name in filter(None, tracked.decode().split("\0")):
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    (tmp_path / "example.diff").write_text(diff + "\n", encoding="utf-8")
    applied = subprocess.run(["git", "apply", "--verbose", str(tmp_path / "example.diff")], cwd=copy,
                             capture_output=True, text=True)
    assert applied.returncode == 0, applied.stderr
    tests = [name for name in touched if name.startswith("tests/")] + ["tests/pipelines/test_recipe.py"]
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], cwd=copy,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:]
