"""The ``relaxed-keras`` command line, end to end on tiny settings."""

import os
import random
import subprocess
import sys

import keras
import numpy as np
import pytest

import relaxed_keras as rk
from relaxed_keras.cli import main
from tests.xla_flags import with_xla_flag

PRESET = "p4cnn_partial_mnist6_180"


def test_list_and_info(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert PRESET in out and "test acc." in out
    assert main(["list", "--recipes"]) == 0
    assert "cnn7_relaxed_noisy_rotated_mnist" in capsys.readouterr().out
    assert main(["info", PRESET]) == 0
    assert "## Measured" in capsys.readouterr().out
    assert main(["info", PRESET, "--json"]) == 0
    assert '"weights_sha256"' in capsys.readouterr().out


def test_unknown_preset_is_a_clear_error(capsys):
    assert main(["evaluate", "p4cnn_partial_mnist6"]) == 2
    err = capsys.readouterr().err
    assert "Unknown preset" in err and "Did you mean" in err


def test_evaluate_and_report(tmp_path, capsys):
    assert main(["evaluate", "p4cnn_strict_mnist6_180", "--test-size", "40"]) == 0
    out = capsys.readouterr().out
    assert "50.00" in out or "accuracy" in out
    assert main(["report", PRESET, "--test-size", "24",
                 "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "conv7" in out and "angle" in out
    assert (tmp_path / "rotation_sweep.png").stat().st_size > 1000
    assert (tmp_path / "learned_equivariance.png").stat().st_size > 1000


def test_report_defaults_fit_a_test_set_smaller_than_500(tmp_path, capsys):
    """`report NAME --output DIR` as README writes it: MNIST6 has 200 test
    images, and the old fixed default of 500 refused every MNIST6 preset."""
    assert main(["report", "z2cnn_none_mnist6_180", "--output", str(tmp_path)]) == 0
    assert "angle" in capsys.readouterr().out


@pytest.mark.parametrize("argv,option", [
    (["finetune", "--epochs", "0"], "--epochs"),
    (["finetune", "--batch-size", "-5"], "--batch-size"),
    (["finetune", "--learning-rate", "nan"], "--learning-rate"),
    (["finetune", "--learning-rate", "-1"], "--learning-rate"),
    (["train", "z2cnn_none_mnist6_180", "--epochs", "0"], "--epochs"),
    (["evaluate", PRESET, "--test-size", "0"], "--test-size"),
    (["report", PRESET, "--test-size", "x"], "--test-size"),
])
def test_out_of_range_numbers_are_usage_errors(argv, option, capsys):
    """Zero epochs, a negative batch or a NaN learning rate used to write a
    "fine-tuned" preset (or end in a data-adapter traceback)."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert option in err and "expected" in err


@pytest.mark.parametrize("command", ["evaluate", "finetune"])
def test_data_set_with_more_classes_than_the_preset_is_an_error(command, tmp_path,
                                                                  capsys):
    """MNIST's 10 classes into a 2-class preset: JAX trained on the
    out-of-range labels without a word, TensorFlow raised a traceback."""
    argv = [command, "z2cnn_none_mnist6_180", "--dataset", "mnist",
            "--test-size", "16"]
    if command == "finetune":
        argv += ["--train-size", "16", "--output", str(tmp_path), "--verbose", "0"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "predicts 2 classes" in err and "has labels up to" in err
    assert not (tmp_path / "preset").exists()


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_finetune_writes_a_loadable_preset(tmp_path, capsys, policy):
    """The main job on tiny settings: load, evaluate, fit, compare, plot;
    under mixed precision too, where the saved preset is still float32
    (its probe logits are float32 outputs, the global policy is restored)."""
    args = ["finetune", PRESET, "--epochs", "1", "--train-size", "64",
            "--test-size", "32", "--batch-size", "32", "--verbose", "0",
            "--output", str(tmp_path), "--dtype-policy", policy]
    assert main(args) == 0
    assert keras.config.dtype_policy().name == "float32"
    out = capsys.readouterr().out
    assert "pretrained" in out and "fine-tuned" in out
    assert f"dtype policy: {policy}" in out
    assert "Learned equivariance per layer" in out
    model = rk.zoo.load(str(tmp_path / "preset"))
    meta = rk.zoo.load_metadata(str(tmp_path / "preset"))
    assert meta["recipe"]["finetuned_from"] == PRESET
    assert meta["environment"]["backend"] == keras.backend.backend()
    assert meta["environment"]["dtype_policy"] == policy
    assert model.count_params() == rk.zoo.load_metadata(PRESET)["parameters"]
    probe = rk.zoo.presets.probe_batch(model.input_shape[1:])
    logits = model.predict(probe, verbose=0)
    assert np.abs(logits - np.array(meta["probe_logits"])).max() < 1e-4


class _Loaded(Exception):
    """Stops `finetune` once the preset is loaded."""


def test_finetune_seed_fixes_the_seeds_the_preset_draws(tmp_path, monkeypatch):
    """``finetune --seed`` fixes the seeds that the preset's dropout and
    sampling layers draw when it is loaded, so two runs with the same seed
    train the same weights (the seed used to be set after loading: the
    layers' seeds came from whatever state Python's generator was in, and
    two runs differed). Stops after loading: the seeds are all that
    training adds."""
    load = rk.zoo.load
    states = []

    def load_and_stop(*args, **kwargs):
        model = load(*args, **kwargs)
        states.append([v.numpy().tolist() for v in model.variables
                       if v.path.endswith("seed_generator_state")])
        raise _Loaded

    monkeypatch.setattr(rk.zoo, "load", load_and_stop)
    for draw in range(2):
        random.random()  # what other code may have drawn in between
        with pytest.raises(_Loaded):
            main(["finetune", PRESET, "--epochs", "1", "--train-size", "16",
                  "--test-size", "8", "--seed", "3", "--output", str(tmp_path)])
    assert len(states[0]) >= 2 and states[0] == states[1]


def test_train_runs_a_recipe(tmp_path, capsys):
    """`train` writes a preset, deletes its state folder once written, and
    refuses to overwrite a non-empty --output without --overwrite (one line
    on stderr, exit code 2)."""
    args = ["train", "z2cnn_none_mnist6_180", "--epochs", "1",
            "--train-size", "64", "--test-size", "40", "--verbose", "0",
            "--output", str(tmp_path / "p"), "--state-dir", str(tmp_path / "s")]
    assert main(args) == 0
    meta = rk.zoo.load_metadata(str(tmp_path / "p"))
    assert meta["recipe"]["epochs"] == 1 and meta["split"]["train_images"] == 64
    assert (tmp_path / "p" / "README.md").exists()
    assert not (tmp_path / "s").exists()
    capsys.readouterr()
    before = (tmp_path / "p" / "model.weights.h5").read_bytes()
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--overwrite" in err
    assert (tmp_path / "p" / "model.weights.h5").read_bytes() == before
    # The trained folder is a preset that loads and reproduces its probe.
    rk.zoo.load(str(tmp_path / "p"))
    assert main(["train", "no_such_recipe"]) == 2


def test_jit_compile_flag_reaches_training(monkeypatch):
    """``--jit-compile on|off|auto`` of `train` and `finetune` becomes
    `model.compile`'s ``jit_compile`` (True, False, "auto")."""
    from relaxed_keras import cli
    from relaxed_keras.zoo import training

    seen = []

    def fake_train_recipe(recipe, **kwargs):
        seen.append(kwargs["jit_compile"])
        raise SystemExit(0)

    monkeypatch.setattr(training, "train_recipe", fake_train_recipe)
    for flag, value in (("on", True), ("off", False), ("auto", "auto")):
        with pytest.raises(SystemExit):
            main(["train", "z2cnn_none_mnist6_180", "--jit-compile", flag])
        assert seen[-1] == value

    def fake_load(name, **kwargs):
        seen.append(kwargs["jit_compile"])
        raise SystemExit(0)

    monkeypatch.setattr(rk.zoo, "load", fake_load)
    with pytest.raises(SystemExit):
        main(["finetune", PRESET, "--jit-compile", "off", "--train-size", "8",
              "--test-size", "8"])
    assert seen[-1] is False
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["finetune", "--jit-compile", "maybe"])


def test_data_parallel(tmp_path, capsys):
    """``--distribute data_parallel``: keras.distribution.DataParallel on
    two virtual CPU devices (JAX); a clear error on the other backends."""
    args = ["finetune", "z2cnn_none_mnist6_180", "--epochs", "1",
            "--train-size", "64", "--test-size", "32", "--verbose", "0",
            "--distribute", "data_parallel", "--output", str(tmp_path)]
    if keras.backend.backend() != "jax":
        assert main(args) == 2
        assert "KERAS_BACKEND=jax" in capsys.readouterr().err
        return
    flags = with_xla_flag(os.environ, "--xla_force_host_platform_device_count=2")
    env = dict(os.environ, XLA_FLAGS=flags, KERAS_BACKEND="jax")
    result = subprocess.run([sys.executable, "-m", "relaxed_keras", *args],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "devices: 2" in result.stdout
    assert rk.zoo.load_metadata(str(tmp_path / "preset"))["environment"]["devices"] == 2


def test_hand_written_preset_without_recipe(tmp_path, capsys):
    """A preset folder whose metadata.json has no recipe (written by hand,
    not by `train`/`finetune`) used to end in KeyError 'recipe': the data
    set must then be named, and finetune takes the architecture and model
    arguments from config.json."""
    import json
    import shutil

    from relaxed_keras.zoo import presets

    folder = tmp_path / "hand_written"
    shutil.copytree(presets.preset_path("z2cnn_none_mnist6_180"), folder)
    meta = json.loads((folder / presets.METADATA_FILE).read_text())
    keep = ("weights_sha256", "probe_logits")
    (folder / presets.METADATA_FILE).write_text(
        json.dumps({key: meta[key] for key in keep}))
    assert main(["evaluate", str(folder), "--test-size", "8"]) == 2
    assert "name the data set with --dataset" in capsys.readouterr().err
    assert main(["evaluate", str(folder), "--dataset", "mnist6_180",
                 "--test-size", "8"]) == 0
    output = tmp_path / "out"
    assert main(["finetune", str(folder), "--dataset", "mnist6_180", "--epochs", "1",
                 "--train-size", "16", "--test-size", "8", "--verbose", "0",
                 "--output", str(output)]) == 0
    saved = rk.zoo.load_metadata(str(output / "preset"))
    assert saved["recipe"]["architecture"] == "z2cnn"
    assert saved["recipe"]["dataset"] == "mnist6_180"
