"""Model files referenced by path: local, or copied from cloud storage once per worker."""

from __future__ import annotations

from pathlib import Path


def local_copy(url: str) -> Path:
    """A local file holding the model at ``url`` (gs://, s3://, or any FileSystems path), cached per worker.

    fastText, KenLM and transformers read local files only. The cache key includes the object's size and
    modification time, so a replaced model is fetched again; the copy is renamed into place atomically, so
    concurrent workers never see half a model.
    """
    import hashlib
    import os
    import shutil
    import tempfile

    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    (meta,) = FileSystems.match([url])[0].metadata_list or [None]
    if meta is None:
        raise FileNotFoundError(f"model not found: {url}")
    key = f"{url}|{meta.size_in_bytes}|{getattr(meta, 'last_updated_in_seconds', '')}"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "webcurate" / "models"
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}-{url.rsplit('/', 1)[-1]}"
    if not target.exists():
        with FileSystems.open(url, compression_type=CompressionTypes.UNCOMPRESSED) as src:
            with tempfile.NamedTemporaryFile(dir=cache, delete=False) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(dst.name, target)
    return target
