"""The benchmarks still run (smoke mode: tiny sizes, one repetition)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))

import nonstationary_memory  # noqa: E402


def test_nonstationary_memory_benchmark_smoke(capsys):
    """Training rows: the fast path, then one chunk size with and without
    rematerialisation, each in its own subprocess."""
    rows = nonstationary_memory.main(["--smoke", "--modes", "train"])
    assert [(row["chunk"], row["remat"]) for row in rows] == [
        ("-", "-"), (4, True), (4, False)]
    assert all(row["seconds"] > 0 and row["peak_mb"] >= 0 for row in rows)
    assert "peak MB" in capsys.readouterr().out


def test_comparison_benchmark_smoke(capsys):
    """benchmarks/compare.py in smoke mode on the current backend: every
    workload runs, the torch references (plain and, when installed, e2cnn)
    are measured and the ratio table is printed. On TensorFlow the P4CNN
    is measured twice: arrays into `fit`, and the `tf.data` pipeline
    without autotuning that avoids TensorFlow's iterator-destruction wait."""
    import keras

    import compare

    affinity_before = (os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity")
                       else None)
    report = compare.main(["--smoke", "--backends", keras.backend.backend()])
    result = report["results"][keras.backend.backend()]
    for key in ("gconv_p4", "dense_gconv_p4", "relaxed_gconv_p4", "continuous_se2",
                "partial_se2", "nonstationary_t2", "p4cnn_train/jit=auto"):
        assert result[key] > 0, key
    tf_rows = keras.backend.backend() == "tensorflow"
    for key in ("p4cnn_train_tfdata/jit=auto", "p4cnn_infer_tfdata/jit=auto",
                "dense_p4cnn_train_tfdata/jit=auto"):
        assert (result.get(key, 0) > 0) == tf_rows, key
    assert report["references"]["torch_p4cnn_train"] > 0
    if hasattr(os, "sched_setaffinity"):
        # Every contender pinned to the same cores (the references too),
        # and this process gets its own cores back.
        assert result["cpu_cores"] <= report["config"]["threads"]
        assert report["config"]["cpu_cores"] <= report["config"]["threads"]
        assert len(os.sched_getaffinity(0)) == len(affinity_before)
    # The memory column has its baseline: a Conv2D measured the same way.
    assert result["dense_t2_peak_mb"] >= 0
    out = capsys.readouterr().out
    assert "| workload | backend |" in out and "dense limit" in out
    assert "(Conv2D " in out
    predict_rows = [line for line in out.splitlines() if "P4CNN predict" in line]
    assert any("plain torch" in line for line in predict_rows)
    assert ("jit=auto tf.data" in out) == tf_rows


def test_interleaved_benchmark_smoke(capsys):
    """benchmarks/interleaved.py in smoke mode (2 rounds) with the current
    backend's worker: every contender is timed once per round, each ratio
    is taken within a round (the reference's time over ours, same round),
    and the table is printed; a malformed ``--settings`` entry is a
    `ValueError` naming the flag."""
    import keras
    import pytest

    import interleaved

    setting = {"tensorflow": "tensorflow:False:tf.data", "jax": "jax:True",
               "torch": "torch:False"}[keras.backend.backend()]
    report = interleaved.main(["--smoke", "--settings", setting])
    times = report["times"]
    assert f"{setting} / p4cnn / train" in times
    assert "plain torch / plain torch / predict" in times
    assert all(len(seconds) == 2 and min(seconds) > 0 for seconds in times.values())
    ours = times[f"{setting} / p4cnn / train"]
    dense = times[f"{setting} / dense / train"]
    (row,) = [row for row in report["rows"] if row[:2] == ("train", f"{setting} P4CNN")
              and row[3] == "dense limit"]
    per_round = sorted(d / o for d, o in zip(dense, ours))
    assert row[4] == pytest.approx(sum(per_round) / 2)
    assert (row[5], row[6]) == pytest.approx((per_round[0], per_round[1]))
    assert "| task | contender |" in capsys.readouterr().out
    with pytest.raises(ValueError, match="--settings"):
        interleaved.main(["--smoke", "--settings", "torch:sometimes"])


def test_branches_benchmark_smoke(capsys):
    """benchmarks/branches.py in smoke mode at the current backend's
    setting: the reference worker and one worker with an entry switched
    off, one round, a gain per task."""
    import keras

    import branches

    # Eager torch: compiling two torch workers would take minutes.
    setting = {"tensorflow": "tensorflow:False:tf.data", "jax": "jax:True",
               "torch": "torch:False"}[keras.backend.backend()]
    report = branches.main(["--smoke", "--groups", setting])
    entry = branches.GROUPS[setting][0]
    assert [row[:3] for row in report["rows"]] == [
        (setting, entry, "train"), (setting, entry, "predict")]
    assert all(row[3] > 0 for row in report["rows"])
    assert set(report["verdicts"]) == {entry}
    assert f"without {entry}" in capsys.readouterr().out
