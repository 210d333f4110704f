"""The docs' worked example is a real change to this tree: the diff that adds a heuristic stage in
docs/ARCHITECTURE.md still applies. When it stops applying, make the change again on a copy of the tree,
run the tests there, and paste the new ``git diff``."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_worked_example_diff_applies_to_this_tree(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git apply checks the diff")
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    (diff,) = re.findall(r"```diff\n(.*?)\n```", text, re.S)
    patch = tmp_path / "example.diff"
    patch.write_text(diff + "\n", encoding="utf-8")
    check = subprocess.run(["git", "apply", "--check", "--verbose", str(patch)], cwd=ROOT, capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stderr
    touched = re.findall(r"^diff --git a/(\S+)", diff, re.M)
    assert {"filters/heuristics.py", "filters/registry.py", "pipelines/recipes/default.yaml"} <= set(touched)
