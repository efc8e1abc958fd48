"""Zoo architectures: parameter counts, every mode trains and predicts,
strict versions are invariant and exact at their default input size."""

import keras
import numpy as np
import pytest

import relaxed_keras as rk

ARCHITECTURES = ["z2cnn", "p4cnn", "cnn7", "resnet_ck", "preact_resnet18",
                 "preact_resnet44", "cnn13"]
# Smaller widths keep every architecture x mode cheap; the graph is the same.
SMALL = {
    "resnet_ck": dict(width=8, kernel_size=3),
    "preact_resnet18": dict(width=8),
    "preact_resnet44": dict(width=4),
    "cnn13": dict(input_shape=(16, 16, 3)),
}


def trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_registry_lists_every_architecture():
    assert sorted(ARCHITECTURES) == rk.zoo.list_architectures()
    with pytest.raises(ValueError, match="p4cnn"):
        rk.zoo.build("p4ccn")


@pytest.mark.parametrize(
    "name,mode,channels,expected",
    [
        ("z2cnn", "none", 3, 25570),  # published log of Edixhoven et al.
        ("p4cnn", "strict", 3, 24990),  # published log
        ("z2cnn", "none", 1, 25570 - 2 * 9 * 20),
        ("p4cnn", "strict", 1, 24990 - 2 * 9 * 10),
    ],
)
def test_cohen_welling_counts(name, mode, channels, expected):
    model = rk.zoo.build(name, equivariance=mode, input_shape=(28, 28, channels))
    assert trainable(model) == expected


def test_p4m_p4cnn_count_by_hand():
    w, g = 8, 8  # ceil(20 / sqrt(8))
    expected = (9 * w + w + 2 * w) + 5 * (9 * g * w * w + w + 2 * w)
    expected += 16 * g * w * w + w + 2 * w + (w * 10 + 10)
    model = rk.zoo.build("p4cnn", group="p4m")
    assert trainable(model) == expected


def preact_count(width, group_size, blocks, in_channels=3, classes=10):
    """Independent count: convs without bias, BN scale+offset, BN shortcut."""
    total = 9 * in_channels * width  # lifting stem (no group axis in input)
    cin = width
    for stage, count in enumerate(blocks):
        cout = width * 2**stage
        for index in range(count):
            total += 2 * cin + 9 * group_size * cin * cout
            total += 2 * cout + 9 * group_size * cout * cout
            if cin != cout:
                total += group_size * cin * cout + 2 * cout
            cin = cout
    return total + 2 * cin + cin * classes + classes


@pytest.mark.parametrize(
    "name,group,width,blocks",
    [
        ("preact_resnet18", None, 64, (2, 2, 2, 2)),
        ("preact_resnet18", "p4", 32, (2, 2, 2, 2)),
        ("preact_resnet18", "p4m", 23, (2, 2, 2, 2)),
        ("preact_resnet44", "p4", 16, (7, 7, 7)),
        ("preact_resnet44", "p4m", 12, (7, 7, 7)),
    ],
)
def test_preact_resnet_widths_and_counts(name, group, width, blocks):
    mode = "none" if group is None else "strict"
    model = rk.zoo.build(name, equivariance=mode, group=group or "p4")
    assert model.get_config()["width"] == width
    group_size = {None: 1, "p4": 4, "p4m": 8}[group]
    assert trainable(model) == preact_count(width, group_size, blocks)
    if group is None and name == "preact_resnet18":
        assert trainable(model) == 11_173_962  # the usual CIFAR ResNet18


@pytest.mark.parametrize("mode", ["none", "strict", "relaxed"])
@pytest.mark.parametrize("name", ARCHITECTURES)
def test_every_mode_fits_one_step_and_predicts(name, mode):
    model = rk.zoo.build(name, equivariance=mode, num_classes=3, **SMALL.get(name, {}))
    shape = model.input_shape[1:]
    x = np.random.rand(2, *shape).astype("float32")
    y = np.array([0, 2])
    # Compiled training is covered per layer (jit_compile tests); tracing the
    # deep ResNets would dominate the suite's time, so TF/torch run eagerly
    # here (JAX compiles faster than it dispatches op by op).
    eager = keras.backend.backend() != "jax"
    model.compile(optimizer="adam", run_eagerly=eager,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert model.predict(x, verbose=0).shape == (2, 3)


@pytest.mark.parametrize("group", ["p4", "p4m"])
@pytest.mark.parametrize("name", ARCHITECTURES[1:])
def test_strict_models_are_invariant_and_exact_at_default_size(name, group):
    model = rk.zoo.build(name, equivariance="strict", group=group, **SMALL.get(name, {}))
    shape = model.input_shape[1:]
    report = rk.diagnostics.exactness_report(model, shape)
    assert report.exact, str(report)
    x = np.random.rand(2, *shape).astype("float32")
    error = rk.diagnostics.equivariance_error(model, x, metric="relative")
    assert error < 1e-4


@pytest.mark.parametrize(
    "name,size,offending",
    [
        ("preact_resnet18", 32, "stage2_block1_conv1"),
        ("preact_resnet44", 32, "stage2_block1_shortcut"),
        ("p4cnn", 27, "pool2"),
        ("cnn13", 30, "pool7"),
    ],
)
def test_exactness_report_names_offending_layers(name, size, offending):
    model = rk.zoo.build(name, equivariance="strict", **SMALL.get(name, {}))
    channels = model.input_shape[-1]
    report = rk.diagnostics.exactness_report(model, (size, size, channels))
    assert not report.exact
    assert offending in report.offending_layers


def test_unknown_arguments_are_refused_and_name_is_a_keyword():
    """Keras's functional constructor drops unknown keyword arguments: a
    misspelt ``num_class=2`` used to build a 10-class model."""
    with pytest.raises(ValueError, match=r"unknown arguments \['dropuot', 'num_class'\]"
                       r".*'num_classes'"):
        rk.zoo.build("p4cnn", num_class=2, dropuot=0.9)
    with pytest.raises(ValueError, match="set_dtype_policy"):
        rk.zoo.build("cnn7", dtype="mixed_bfloat16")
    model = rk.zoo.build("z2cnn", name="my_z2cnn", num_classes=2)
    assert model.name == "my_z2cnn" and model.output_shape == (None, 2)


def test_unsupported_combinations_say_what_exists():
    with pytest.raises(ValueError, match=r"\('none', 'strict', 'relaxed'\)"):
        rk.zoo.build("resnet_ck", equivariance="partial")
    with pytest.raises(ValueError, match="exact group"):
        rk.zoo.build("p4cnn", group="c8")
    with pytest.raises(ValueError, match="variant"):
        rk.zoo.build("cnn13", variant="wide")


def test_partial_gcnn_variant_has_nine_convolutions():
    model = rk.zoo.build("cnn13", variant="partial_gcnn", equivariance="none",
                         input_shape=(16, 16, 3))
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert len(convs) == 9
    laine = rk.zoo.build("cnn13", equivariance="none", input_shape=(16, 16, 3))
    assert len([l for l in laine.layers if isinstance(l, keras.layers.Conv2D)]) == 9


def test_partial_gcnn_variant_widths_are_per_group_element():
    """As in the Partial G-CNN reference code (and ResNetCK): 128, 128,
    256 x 7 channels per group element in every mode (they used to be
    divided by sqrt(|G|): 64, 64, 128 x 7 for p4); Laine & Aila's variant
    keeps the parameter-matched division."""
    expected = [128, 128] + [256] * 7
    for mode, group in (("strict", "p4"), ("none", "p4")):
        model = rk.zoo.build("cnn13", variant="partial_gcnn", equivariance=mode,
                             group=group, input_shape=(8, 8, 3))
        widths = [layer.filters for layer in model.layers if hasattr(layer, "filters")]
        assert widths == expected, (mode, widths)
    laine = rk.zoo.build("cnn13", equivariance="strict", group="p4",
                         input_shape=(16, 16, 3))
    widths = [layer.filters for layer in laine.layers if hasattr(layer, "filters")]
    assert widths == [64] * 3 + [128] * 3 + [256, 128, 64], widths


def test_architecture_table_lists_descriptions_and_counts():
    rows = {row["name"]: row for row in rk.zoo.architecture_table()}
    assert sorted(rows) == sorted(ARCHITECTURES)
    assert rows["p4cnn"]["trainable_params"] == 24810
    assert rows["preact_resnet18"]["input_shape"] == (33, 33, 3)
    assert all(row["description"] for row in rows.values())


def test_architecture_table_of_a_mode_lists_the_architectures_that_have_it():
    """The ResNets have no soft mode: they get no row (the table raised
    half way through); an unknown mode is a clear error."""
    names = [row["name"] for row in rk.zoo.architecture_table("soft")]
    assert names == ["cnn13", "cnn7", "p4cnn", "z2cnn"]
    with pytest.raises(ValueError, match="equivariance"):
        rk.zoo.architecture_table("sotf")
    with pytest.raises(ValueError, match="supports equivariance in"):
        rk.zoo.build("resnet_ck", equivariance="soft")


@pytest.mark.parametrize("kwargs,argument", [
    ({"name": "z2cnn", "group": "bogus"}, "group"),
    ({"name": "p4cnn", "width": 0}, "width"),
    ({"name": "cnn7", "width": -2}, "width"),
    ({"name": "p4cnn", "equivariance": "strict", "num_filter_banks": 7},
     "num_filter_banks applies to equivariance='relaxed'"),
    ({"name": "z2cnn", "alpha": 5.0}, "alpha applies to equivariance='relaxed'"),
    ({"name": "p4cnn", "equivariance": "partial", "num_filter_banks": 2},
     "num_filter_banks applies"),
])
def test_build_refuses_arguments_the_mode_would_ignore(kwargs, argument):
    """A misspelt group in "none" mode, width=0 (read as "the default") and
    relaxed-only arguments in other modes used to build without a word."""
    kwargs = dict(kwargs)
    with pytest.raises(ValueError, match=argument):
        rk.zoo.build(kwargs.pop("name"), **kwargs)
    # The values every preset config stores still build.
    rk.zoo.build("z2cnn", group=None, num_filter_banks=3, alpha=1e-4)
