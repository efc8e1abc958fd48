"""Constructor arguments outside their documented range are refused with a
ValueError naming the argument (instead of being truncated or accepted)."""

import keras
import numpy as np
import pytest

from relaxed_keras import layers as L


@pytest.mark.parametrize(
    "kwargs, name",
    [
        # Used to be truncated to 2 steps.
        (dict(temperature_decay_steps=2.7), "temperature_decay_steps"),
        (dict(temperature_decay_steps=True), "temperature_decay_steps"),
        (dict(temperature_decay_steps=0), "temperature_decay_steps"),
        # The Gumbel-sigmoid divides by the temperature.
        (dict(temperature_start=-1.0), "temperature_start"),
        (dict(temperature_start=0.0), "temperature_start"),
        (dict(temperature_end=0.0), "temperature_end"),
        (dict(temperature_end=float("nan")), "temperature_end"),
        (dict(distribution_lr_factor=float("inf")), "distribution_lr_factor"),
        (dict(distribution_lr_factor="x"), "distribution_lr_factor"),
        (dict(initial_mirror_logit=float("nan")), "initial_mirror_logit"),
        (dict(min_theta=0.0), "min_theta"),
        (dict(initial_theta=1.5), "initial_theta"),
    ],
)
def test_partial_conv_rejects_out_of_range_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        L.PartialGroupConv2D(2, 3, group="e2_4", **kwargs)


def test_partial_conv_keeps_integral_decay_steps_and_round_trips():
    layer = L.PartialGroupConv2D(2, 3, group="e2_4", temperature_decay_steps=50.0,
                                 temperature_start=0.2, temperature_end=0.7)
    assert layer.temperature_decay_steps == 50
    assert isinstance(layer.temperature_decay_steps, int)
    clone = L.PartialGroupConv2D.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


@pytest.mark.parametrize("bounds", [(2.0, 1.0), (0.0, float("nan"))])
def test_clip_rejects_an_empty_or_nan_interval(bounds):
    with pytest.raises(ValueError, match="min_value <= max_value"):
        L.Clip(*bounds)


def test_clip_with_equal_bounds_clips_and_round_trips():
    clip = L.Clip(1, 1)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(clip(np.array([0.0, 2.0], "float32"))), [1.0, 1.0]
    )
    assert L.Clip.from_config(clip.get_config()).get_config() == clip.get_config()
