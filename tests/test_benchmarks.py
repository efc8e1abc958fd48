"""The benchmarks still run (smoke mode: tiny sizes, one repetition)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))

import nonstationary_memory  # noqa: E402


def test_nonstationary_memory_benchmark_smoke(capsys):
    rows = nonstationary_memory.main(["--smoke"])
    assert [row["chunk"] for row in rows] == ["-", 4, 36]
    assert all(row["seconds"] > 0 and row["peak_mb"] >= 0 for row in rows)
    assert "peak MB" in capsys.readouterr().out
