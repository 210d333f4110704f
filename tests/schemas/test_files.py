"""Files the project writes: paths that could leave their folder are refused; writes are atomic."""

from __future__ import annotations

import pytest

from schemas.files import atomic_write, file_size, join, read_bytes, write_text


@pytest.mark.parametrize("relative", ["../x.parquet", "data/../../x", "/etc/passwd", "data//x", "./x",
                                      "data\\..\\x", "c:/x", "gs://other/x", ""])
def test_join_refuses_paths_that_could_leave_the_output(tmp_path, relative):
    with pytest.raises(ValueError, match="must stay inside"):
        join(str(tmp_path), relative)



def test_atomic_write_leaves_no_temporary_file_and_replaces_the_old_one(tmp_path):
    path = join(str(tmp_path), "stats.json")
    write_text(path, "old")
    assert atomic_write(path, lambda f: f.write(b"new content")) == len(b"new content") == file_size(path)
    assert (tmp_path / "stats.json").read_bytes() == b"new content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stats.json"]


def test_a_failed_write_keeps_the_previous_file_whole(tmp_path):
    path = join(str(tmp_path), "card.md")
    write_text(path, "complete")

    def broken(handle):
        handle.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, broken)
    assert (tmp_path / "card.md").read_text() == "complete"


def test_read_bytes_reads_a_compressed_file_past_beams_16_mib_read(tmp_path):
    import gzip

    data = bytes(range(256)) * (20 << 12)  # 20 MiB once decompressed; one read() of Beam's file gives 16
    (tmp_path / "big.txt.gz").write_bytes(gzip.compress(data, compresslevel=1))
    (tmp_path / "small.txt").write_bytes(b"plain")
    assert read_bytes(str(tmp_path / "big.txt.gz")) == data
    assert read_bytes(str(tmp_path / "small.txt")) == b"plain"

