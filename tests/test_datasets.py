"""MNIST loaders, noise maps and the noisy rotated MNIST data set."""

import numpy as np
import pytest

import relaxed_keras as rk


def test_shipped_subset_split_is_fixed_and_stratified():
    (x_train, y_train), (x_test, y_test) = rk.datasets.load_mnist("subset")
    assert x_train.shape == (4000, 28, 28) and x_test.shape == (1000, 28, 28)
    assert x_train.dtype == np.uint8
    assert np.all(np.bincount(y_test) == 100)
    assert np.all(np.bincount(y_train) == 400)
    (x_again, _), _ = rk.datasets.load_mnist("subset")
    np.testing.assert_array_equal(x_train, x_again)


def _write_mnist_cache(keras_home):
    """A small ``mnist.npz`` in the keras.datasets format under
    ``keras_home/datasets``; returns its path."""
    cache = keras_home / "datasets"
    cache.mkdir()
    rng = np.random.RandomState(0)
    np.savez(
        cache / "mnist.npz",
        x_train=rng.randint(0, 255, (6, 28, 28)).astype("uint8"),
        y_train=np.arange(6).astype("uint8"),
        x_test=rng.randint(0, 255, (3, 28, 28)).astype("uint8"),
        y_test=np.arange(3).astype("uint8"),
    )
    return cache / "mnist.npz"


def _offline(path="mnist.npz"):
    raise Exception("URL fetch failure on https://example.invalid")


def test_auto_source_uses_the_keras_cache_when_present(tmp_path, monkeypatch):
    """A cached ``mnist.npz`` in the real keras.datasets format is used,
    read without Keras (which would download a file failing its checksum)."""
    import keras

    _write_mnist_cache(tmp_path)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(keras.datasets.mnist, "load_data", _offline)
    (x_train, y_train), (x_test, _) = rk.datasets.load_mnist("auto")
    assert x_train.shape == (6, 28, 28) and x_test.shape == (3, 28, 28)
    assert y_train.dtype == np.int64
    with pytest.raises(ValueError, match="source"):
        rk.datasets.load_mnist("internet")


def test_corrupt_keras_cache_and_failed_download_are_clear_errors(
    tmp_path, monkeypatch
):
    """A cut-off cached mnist.npz in "auto", and a failed download of
    source="keras" (a bare ``Exception: URL fetch failure`` from Keras),
    are ValueErrors that say how to go on offline."""
    import keras

    monkeypatch.setattr(keras.datasets.mnist, "load_data", _offline)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    cache = _write_mnist_cache(tmp_path).parent
    raw = (cache / "mnist.npz").read_bytes()
    (cache / "mnist.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="not a readable MNIST archive"):
        rk.datasets.load_mnist("auto")
    with pytest.raises(ValueError, match="MNIST is not available offline.*subset"):
        rk.datasets.load_mnist("keras")


def test_noise_maps():
    aniso = rk.datasets.noise_strength_map("aniso")
    iso = rk.datasets.noise_strength_map("iso")
    assert aniso.mean() == pytest.approx(1.0, 1e-6)
    assert iso.mean() == pytest.approx(1.0, 1e-6)
    for k in (1, 2, 3):
        assert np.abs(np.rot90(aniso, k) - aniso).max() > 0.5
        np.testing.assert_array_equal(np.rot90(iso, k), iso)
    # Two bands of weaker noise on the right half (local minima across).
    right = aniso[14, 14:]
    minima = [i for i in range(1, 13) if right[i] < right[i - 1] and right[i] <= right[i + 1]]
    assert len(minima) == 2
    with pytest.raises(ValueError, match="noise"):
        rk.datasets.noise_strength_map("pink")


def test_noise_has_equal_mean_strength_and_iso_is_rotation_invariant():
    blank = np.zeros((4000, 28, 28, 1), "float32")
    aniso = rk.datasets.add_noise(blank, "aniso", sigma=0.2, seed=1)
    iso = rk.datasets.add_noise(blank, "iso", sigma=0.2, seed=1)
    assert (aniso**2).mean() == pytest.approx(0.04, rel=0.02)
    assert (iso**2).mean() == pytest.approx(0.04, rel=0.02)
    var_iso = (iso**2).mean(axis=0)[..., 0]
    var_aniso = (aniso**2).mean(axis=0)[..., 0]
    # In expectation: the iso variance map is flat, the aniso one is not
    # invariant under rot90 (sampling noise is ~2% per pixel here).
    assert np.abs(np.rot90(var_iso) - var_iso).max() < 0.25 * 0.04
    assert np.abs(np.rot90(var_aniso) - var_aniso).max() > 1.0 * 0.04


def test_noisy_rotated_mnist_is_deterministic_and_rotated():
    (x_train, y_train), (x_test, y_test) = rk.datasets.noisy_rotated_mnist(
        "none", sigma=0.0, seed=3, source="subset"
    )
    assert x_train.shape == (4000, 28, 28, 1) and x_train.dtype == np.float32
    (originals, labels), _ = rk.datasets.load_mnist("subset")
    np.testing.assert_array_equal(labels, y_train)
    turns_seen = set()
    for image, original in zip(x_train[:64], originals[:64] / 255.0):
        matches = [k for k in range(4)
                   if np.allclose(image[..., 0], np.rot90(original, k))]
        assert matches
        turns_seen.update(matches)
    assert turns_seen == {0, 1, 2, 3}
    a = rk.datasets.noisy_rotated_mnist("aniso", 0.3, seed=5, source="subset")
    b = rk.datasets.noisy_rotated_mnist("aniso", 0.3, seed=5, source="subset")
    np.testing.assert_array_equal(a[0][0], b[0][0])
    clean = rk.datasets.noisy_rotated_mnist("aniso", 0.3, seed=5, source="subset",
                                            clean_test=True)
    assert clean[1][0].min() >= 0.0 and a[1][0].min() < 0.0


def test_noisy_rotated_mnist_checks_sigma():
    """A string sigma used to be a TypeError from the comparison."""
    for sigma in ("0.1", -1, float("inf"), True):
        with pytest.raises(ValueError, match="`sigma` must be a real number >= 0"):
            rk.datasets.noisy_rotated_mnist(sigma=sigma, source="subset")
