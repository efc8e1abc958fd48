"""The preset data sets: MNIST6, rotated (Fashion-)MNIST, CIFAR, slicing.

Fashion-MNIST and CIFAR loaders are tested on small fixtures written in the
real file formats (IDX gz; pickled python batches) under a temporary
``KERAS_HOME``, so the tests never need the real files or a network."""

import gzip
import os
import pickle

import numpy as np
import pytest

import relaxed_keras as rk


@pytest.mark.parametrize("loader,transform", [
    (rk.datasets.mnist6_180, lambda x: np.rot90(x, 2, axes=(1, 2))),
    (rk.datasets.mnist6_m, lambda x: x[:, :, ::-1]),
])
def test_mnist6_labels_follow_the_transform(loader, transform):
    """Every label-1 image is the transformed copy of a label-0 image of the
    same split, and the classes are exactly balanced."""
    (x_train, y_train), (x_test, y_test) = loader(source="subset")
    assert x_train.shape == (800, 28, 28, 1) and x_test.shape == (200, 28, 28, 1)
    assert x_train.dtype == np.float32 and 0.0 <= x_train.min() and x_train.max() <= 1.0
    for x, y in ((x_train, y_train), (x_test, y_test)):
        assert np.bincount(y).tolist() == [len(y) // 2] * 2
        originals = {x_i.tobytes() for x_i in x[y == 0]}
        moved = transform(x[y == 1])
        assert all(m.tobytes() in originals for m in moved)
        # The transformation really changes the images.
        assert not any(m.tobytes() in originals for m in x[y == 1][:20])


def test_rotated_mnist_rotates_each_digit_by_a_fixed_angle():
    (x_train, y_train), (x_test, y_test) = rk.datasets.rotated_mnist(source="subset")
    (plain, labels), _ = rk.datasets.mnist(source="subset")
    assert x_train.shape == (4000, 28, 28, 1) and x_test.shape == (1000, 28, 28, 1)
    np.testing.assert_array_equal(y_train, labels)
    assert np.bincount(y_test).tolist() == [100] * 10
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    # Rotation keeps the ink (up to interpolation and corner clipping).
    ink_ratio = x_train.sum(axis=(1, 2, 3)) / plain.sum(axis=(1, 2, 3))
    assert np.median(ink_ratio) == pytest.approx(1.0, abs=0.1)
    assert np.mean(np.abs(x_train - plain).max(axis=(1, 2, 3)) > 0.5) > 0.9
    again, _ = rk.datasets.rotated_mnist(source="subset")
    np.testing.assert_array_equal(again[0], x_train)


def test_numpy_rotation_matches_rot90_and_the_keras_interpolation():
    x = np.random.RandomState(0).rand(3, 9, 9, 2).astype("float32")
    for k in range(4):
        np.testing.assert_allclose(
            rk.datasets.rotate_array_images(x, 90 * k), np.rot90(x, k, axes=(1, 2)),
            atol=1e-6,
        )
    from keras import ops

    reference = ops.convert_to_numpy(
        rk.groups.rotate_images(ops.convert_to_tensor(x), np.radians(33.0))
    )
    np.testing.assert_allclose(rk.datasets.rotate_array_images(x, 33.0), reference,
                               atol=1e-5)


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype("uint8").tobytes())


def _fashion_fixture(folder, rng):
    os.makedirs(folder, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.randint(0, 256, (20, 28, 28)),
        "train-labels-idx1-ubyte.gz": np.arange(20) % 10,
        "t10k-images-idx3-ubyte.gz": rng.randint(0, 256, (10, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": np.arange(10),
    }
    for name, array in arrays.items():
        _write_idx(os.path.join(folder, name), array)
    return arrays


def test_fashion_mnist_reads_the_idx_files_of_both_offline_sources(
    tmp_path, monkeypatch, rng
):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    debian = tmp_path / "debian"
    monkeypatch.setenv("RK_FASHION_MNIST_DIR", str(debian))
    with pytest.raises(ValueError, match="apt-get install -y dataset-fashion-mnist"):
        rk.datasets.fashion_mnist()
    arrays = _fashion_fixture(str(debian), rng)
    (x_train, y_train), (x_test, y_test) = rk.datasets.fashion_mnist()
    assert x_train.shape == (20, 28, 28, 1) and x_train.dtype == np.float32
    np.testing.assert_allclose(
        x_train[..., 0] * 255.0, arrays["train-images-idx3-ubyte.gz"], atol=1e-3
    )
    np.testing.assert_array_equal(y_test, np.arange(10))
    # The Keras cache comes first when it has the files.
    keras_copy = _fashion_fixture(
        str(tmp_path / "keras_home" / "datasets" / "fashion-mnist"),
        np.random.RandomState(7),
    )
    (x_keras, _), _ = rk.datasets.fashion_mnist()
    np.testing.assert_allclose(
        x_keras[..., 0] * 255.0, keras_copy["train-images-idx3-ubyte.gz"], atol=1e-3
    )
    (x_debian, _), _ = rk.datasets.fashion_mnist(source="debian")
    np.testing.assert_allclose(x_debian, x_train)
    rotated = rk.datasets.rotated_fashion_mnist(source="debian", progress=False)
    assert rotated[0][0].shape == (20, 28, 28, 1)
    assert np.abs(rotated[0][0] - x_train).max() > 0.5


def test_truncated_idx_file_is_a_clear_error(tmp_path):
    path = tmp_path / "bad-images-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + (5).to_bytes(4, "big") + (28).to_bytes(4, "big")
                + (28).to_bytes(4, "big") + b"\x00" * 100)
    with pytest.raises(ValueError, match="truncated"):
        rk.datasets.read_idx(str(path))
    with pytest.raises(ValueError, match="source"):
        rk.datasets.fashion_mnist(source="internet")


def _cifar_batch(path, rng, count, label_keys):
    batch = {b"data": rng.randint(0, 256, (count, 3072)).astype("uint8")}
    for key in label_keys:
        batch[key.encode()] = [int(v) for v in rng.randint(0, 10, count)]
    with open(path, "wb") as f:
        pickle.dump(batch, f)
    return batch


def test_cifar_loaders_read_the_keras_cache_format(tmp_path, monkeypatch, rng):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    base = tmp_path / "datasets"
    c10 = base / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    c10.mkdir(parents=True)
    batches = [_cifar_batch(c10 / f"data_batch_{i}", rng, 4, ["labels"])
               for i in range(1, 6)]
    _cifar_batch(c10 / "test_batch", rng, 3, ["labels"])
    (x_train, y_train), (x_test, y_test) = rk.datasets.cifar10()
    assert x_train.shape == (20, 32, 32, 3) and x_test.shape == (3, 32, 32, 3)
    assert y_train.dtype == np.int64 and y_train.shape == (20,)
    # CHW rows of the python batches become HWC images.
    first = batches[0][b"data"][0].reshape(3, 32, 32).transpose(1, 2, 0)
    np.testing.assert_allclose(x_train[0] * 255.0, first, atol=1e-3)
    c100 = base / "cifar-100-python-target" / "cifar-100-python"
    c100.mkdir(parents=True)
    _cifar_batch(c100 / "train", rng, 6, ["fine_labels", "coarse_labels"])
    _cifar_batch(c100 / "test", rng, 2, ["fine_labels", "coarse_labels"])
    (x100, _), (_, y100) = rk.datasets.cifar100(label_mode="coarse")
    assert x100.shape == (6, 32, 32, 3) and y100.shape == (2,)
    with pytest.raises(ValueError, match="label_mode"):
        rk.datasets.cifar100(label_mode="medium")
    assert "cifar10" in rk.datasets.list_datasets()


def test_cifar_falls_back_to_keras_datasets(tmp_path, monkeypatch):
    import keras

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    fake = ((np.full((2, 32, 32, 3), 255, "uint8"), np.array([[1], [2]], "uint8")),
            (np.zeros((1, 32, 32, 3), "uint8"), np.array([[3]], "uint8")))
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: fake)
    (x_train, y_train), (_, y_test) = rk.datasets.cifar10()
    assert x_train.max() == 1.0 and y_train.tolist() == [1, 2] and y_test.tolist() == [3]


def test_load_dataset_cuts_fixed_disjoint_slices():
    data = rk.datasets.load_dataset(
        "mnist6_180", train_size=100, validation_size=50, test_size=40,
        source="subset",
    )
    (x_train, _), (x_val, _), (x_test, _) = data["train"], data["validation"], data["test"]
    assert len(x_train) == 100 and len(x_val) == 50 and len(x_test) == 40
    full, _ = rk.datasets.mnist6_180(source="subset")
    np.testing.assert_array_equal(x_train, full[0][:100])
    np.testing.assert_array_equal(x_val, full[0][-50:])
    with pytest.raises(ValueError, match="Did you mean"):
        rk.datasets.load_dataset("mnist6_18")
    with pytest.raises(ValueError, match="train_size"):
        rk.datasets.load_dataset("mnist6_180", train_size=790, validation_size=20,
                                 source="subset")
    # A negative size used to slice from the end (197 of 200 images), zero
    # to crash inside `evaluate`.
    for size in (0, -3, 201):
        with pytest.raises(ValueError, match=r"test_size must be between 1 and 200"):
            rk.datasets.load_dataset("mnist6_180", test_size=size, source="subset")


def test_unreadable_idx_files_are_clear_errors(tmp_path):
    """A cut-off download and a file that is not gzip used to surface as
    EOFError / gzip.BadGzipFile."""
    good = tmp_path / "good-labels-idx1-ubyte.gz"
    _write_idx(good, np.arange(200) % 10)
    raw = good.read_bytes()
    truncated = tmp_path / "truncated-labels-idx1-ubyte.gz"
    truncated.write_bytes(raw[: len(raw) // 2])
    plain = tmp_path / "plain-labels-idx1-ubyte.gz"
    plain.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 2]) + b"ab")
    for path in (truncated, plain):
        with pytest.raises(ValueError, match="Could not read the IDX file .*" + path.name):
            rk.datasets.read_idx(str(path))


def test_fashion_mnist_refuses_mismatched_files(tmp_path, monkeypatch, rng):
    """Wrong counts, ranks or image sizes used to load silently; the
    not-found message names the folder actually searched."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    folder = tmp_path / "fashion"
    monkeypatch.setenv("RK_FASHION_MNIST_DIR", str(folder))
    with pytest.raises(ValueError, match="not found offline") as info:
        rk.datasets.fashion_mnist(source="debian")
    assert str(folder) in str(info.value)
    assert "/usr/share/datasets" not in str(info.value)
    _fashion_fixture(str(folder), rng)
    labels = folder / "train-labels-idx1-ubyte.gz"
    images = folder / "train-images-idx3-ubyte.gz"
    _write_idx(labels, np.arange(12) % 10)
    with pytest.raises(ValueError, match="holds 12 labels but .* holds 20 images"):
        rk.datasets.fashion_mnist(source="debian")
    _write_idx(labels, rng.randint(0, 10, (20, 28, 28)))
    with pytest.raises(ValueError, match=r"one label per image .*\(20, 28, 28\)"):
        rk.datasets.fashion_mnist(source="debian")
    _write_idx(labels, np.arange(20) % 10)
    _write_idx(images, rng.randint(0, 256, (20, 32, 32)))
    with pytest.raises(ValueError, match=r"28x28 images .*\(20, 32, 32\)"):
        rk.datasets.fashion_mnist(source="debian")


def test_cifar_download_failure_is_a_clear_error(tmp_path, monkeypatch):
    """Without a cache and without network Keras raises a bare
    ``Exception: URL fetch failure``; it becomes a ValueError saying how to
    provide the files."""
    import keras

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def offline(**kwargs):
        raise Exception("URL fetch failure on https://example.invalid")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    monkeypatch.setattr(keras.datasets.cifar100, "load_data", offline)
    with pytest.raises(ValueError, match="cifar10 is not available offline"):
        rk.datasets.cifar10()
    with pytest.raises(ValueError, match="cifar100 is not available offline"):
        rk.datasets.cifar100(source="keras")
    with pytest.raises(ValueError, match="cifar10 is not available offline"):
        rk.datasets.load_dataset("cifar10", test_size=20)


def test_load_dataset_checks_loader_arguments():
    """Unknown loader arguments and wrong types used to be TypeErrors from
    inside the loaders; a float size was truncated silently."""
    with pytest.raises(ValueError, match=r"does not take .*\['noise'\].* \['source', 'seed'\]"):
        rk.datasets.load_dataset("mnist6_180", noise="iso")
    for sigma in ("0.1", -0.1, float("nan"), None):
        with pytest.raises(ValueError, match="`sigma` must be a real number >= 0"):
            rk.datasets.load_dataset("noisy_rotated_mnist", sigma=sigma)
    for key, value in (("train_size", 2.7), ("test_size", "abc"),
                       ("validation_size", True)):
        with pytest.raises(ValueError, match=f"`{key}` must be an integer"):
            rk.datasets.load_dataset("mnist6_180", source="subset", **{key: value})
