from __future__ import annotations

import shutil

import pytest

from filters import perplexity as P
from filters.model_files import local_copy


def test_remote_model_is_cached_locally_once(tmp_path, monkeypatch):
    """The copy step the model loaders take for gs:// / s3:// paths, run here through FileSystems on a local path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    source = tmp_path / "bucket" / "lm.binary"
    source.parent.mkdir()
    shutil.copyfile(P.DEFAULT_MODEL, source)
    first = local_copy(str(source))
    assert first.parent == tmp_path / "webcurate" / "models" and first.read_bytes() == source.read_bytes()
    assert local_copy(str(source)) == first
    source.write_bytes(source.read_bytes()[:-1])  # a replaced model (other size) is fetched again
    assert local_copy(str(source)) != first
    with pytest.raises(FileNotFoundError):
        local_copy(str(tmp_path / "bucket" / "missing.binary"))
