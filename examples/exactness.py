"""Can a p4 G-CNN tell an image from its 90-degree rotation?

The experiment of Edixhoven et al. (2023), "Using and Abusing Equivariance",
Sec. 4.1: one lifting convolution (k=3, stride 2, padding 1, one output
channel), global average pooling, group (coset) max pooling and a dense
layer with two outputs are trained to separate an image ``x`` from
``rot90(x)``.

* At 33x33, ``(33 + 2 - 3) mod 2 = 0``: the network is exactly invariant, both
  inputs give identical logits and accuracy stays at 50%.
* At 32x32, ``(32 + 2 - 3) mod 2 = 1``: the stride samples different pixels
  of the rotated image, invariance is broken and the network learns to tell
  the two apart (100%).

Run: ``KERAS_BACKEND=jax python examples/exactness.py`` (any backend).
"""

import argparse

import keras
import numpy as np

import relaxed_keras as rk


def build_tiny_gcnn(size, seed=0):
    """The paper's tiny network for ``size x size`` single-channel inputs."""
    inputs = keras.Input((size, size, 1))
    x = rk.layers.LiftingConv2D(
        1,
        3,
        group="p4",
        strides=2,
        padding=1,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        name="p4_conv",
    )(inputs)
    x = keras.layers.Lambda(
        lambda t: keras.ops.mean(t, axis=(1, 2)), name="spatial_mean"
    )(x)
    x = keras.layers.Lambda(
        lambda t: keras.ops.max(t, axis=1), name="group_max"
    )(x)
    outputs = keras.layers.Dense(
        2, kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1)
    )(x)
    return keras.Model(inputs, outputs, name=f"tiny_p4_{size}")


def textured_image(size, seed=0):
    """A random blob pattern with a period-2 column texture.

    The paper uses a photograph of a chess knight. Any image shows the
    effect in principle; a fine texture makes the one-pixel shift of the
    strided sampling grid under rotation large enough to learn in a few
    hundred steps with one output channel. At 33x33 no image helps: the
    network is exactly invariant.
    """
    rng = np.random.RandomState(seed)
    image = np.zeros((1, size, size, 1), dtype="float32")
    image[:, :, ::2] = 1.0
    return image * (rng.rand(1, size, size, 1) > 0.3)


def run_experiment(size, steps=400, learning_rate=0.05, seed=0):
    """Train on ``{x, rot90(x)}`` and report accuracy and the logit gap."""
    keras.utils.set_random_seed(seed)
    image = textured_image(size, seed)
    pair = np.concatenate([image, np.rot90(image, k=1, axes=(1, 2))])
    labels = np.array([0, 1])
    model = build_tiny_gcnn(size, seed)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    # `steps` batches, each the pair {x, rot90(x)}.
    model.fit(
        np.tile(pair, (steps, 1, 1, 1)),
        np.tile(labels, steps),
        batch_size=2,
        epochs=1,
        shuffle=False,
        verbose=0,
    )
    logits = model.predict(pair, verbose=0)
    report = rk.diagnostics.exactness_report(model, (size, size, 1))
    return {
        "size": size,
        "condition": (size + 2 - 3) % 2,
        "exact": report.exact,
        "accuracy": float(np.mean(logits.argmax(axis=1) == labels)),
        "logit_gap": float(np.abs(logits[0] - logits[1]).max()),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 33])
    args = parser.parse_args(argv)
    if args.steps < 1 or min(args.sizes) < 3:
        parser.error("--steps must be >= 1 and --sizes >= 3 (the kernel size)")
    print(f"backend: {keras.backend.backend()}")
    rows = [run_experiment(size, steps=args.steps) for size in args.sizes]
    print(
        f"{'input':>7} {'(i+2p-k) mod s':>15} {'exact':>6} "
        f"{'accuracy':>9} {'max |logit(x) - logit(Tx)|':>27}"
    )
    for row in rows:
        print(
            f"{row['size']:>4}x{row['size']:<2} {row['condition']:>15} "
            f"{str(row['exact']):>6} {100 * row['accuracy']:>8.1f}% "
            f"{row['logit_gap']:>27.3e}"
        )
    return rows


if __name__ == "__main__":
    main()
