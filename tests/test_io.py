"""Atomic result files: content, modes, resumable logs."""
import os
import stat

import numpy as np
import pytest

from slt import io


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_atomic_files_respect_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        a = io.save_json(tmp_path / "a.json", {"x": np.arange(3)})
        b = io.save_npz(tmp_path / "sub" / "b.npz", x=np.arange(3))
        with open(tmp_path / "plain.txt", "w") as fh:  # what an ordinary open gives
            fh.write("x")
    finally:
        os.umask(old)
    expected = 0o666 & ~mask
    for p in (a, b, tmp_path / "plain.txt"):
        assert stat.S_IMODE(p.stat().st_mode) == expected, (p, oct(p.stat().st_mode))
    assert io.load_json(a) == {"x": [0, 1, 2]}
    assert np.array_equal(np.load(b)["x"], np.arange(3))
    assert not [p for p in tmp_path.rglob(".*.tmp")]  # no temporary file left behind


def test_resumable_log_skips_a_torn_line(tmp_path):
    log = io.ResumableLog(tmp_path / "log.jsonl")
    log.append({"key": 1, "v": 2.0})
    with open(log.path, "a") as fh:
        fh.write('{"key": 2, "v"')
    assert log.done() == {1}
