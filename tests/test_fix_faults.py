"""`--fix` under faults: the original file is never damaged, and the problem is reported."""

import errno
import os

import pytest

from tapelint import fixer
from tapelint.fixer import WriteError, write_atomic

ORIGINAL = b"x = 1\n"


@pytest.fixture
def target(tmp_path):
    path = tmp_path / "train.py"
    path.write_bytes(ORIGINAL)
    os.chmod(path, 0o640)
    return path


def test_write_keeps_permissions_and_leaves_no_temporary_file(target):
    write_atomic(target, "x = 2\n", ORIGINAL)
    assert target.read_bytes() == b"x = 2\n"
    assert oct(target.stat().st_mode & 0o777) == "0o640"
    assert [p.name for p in target.parent.iterdir()] == ["train.py"]


def test_file_changed_by_someone_else_is_not_overwritten(target):
    target.write_bytes(b"x = 'edited meanwhile'\n")
    with pytest.raises(WriteError, match="changed on disk since it was read; not overwritten"):
        write_atomic(target, "x = 2\n", ORIGINAL)
    assert target.read_bytes() == b"x = 'edited meanwhile'\n"


def test_full_disk_leaves_the_original_intact(target, monkeypatch):
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fixer.os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode)))
    with pytest.raises(WriteError, match="No space left on device; the file is unchanged"):
        write_atomic(target, "x = 2\n", ORIGINAL)
    assert target.read_bytes() == ORIGINAL
    assert [p.name for p in target.parent.iterdir()] == ["train.py"]


def test_read_only_file_is_left_unchanged(target, monkeypatch):
    # root may write anything, so the permission answer is injected
    monkeypatch.setattr(fixer.os, "access", lambda path, mode: False)
    with pytest.raises(WriteError, match="file is not writable; left unchanged"):
        write_atomic(target, "x = 2\n", ORIGINAL)
    assert target.read_bytes() == ORIGINAL
