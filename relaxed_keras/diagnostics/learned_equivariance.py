"""Read how much equivariance each layer of a model has learned."""

import keras
import numpy as np
from keras import ops


def _layers(model):
    if not isinstance(model, keras.layers.Layer):
        raise ValueError(
            "Expected a Keras model or layer (e.g. rk.zoo.load(name)). "
            f"Received: model of type {type(model).__name__}"
        )
    return [model] + list(model._flatten_layers(include_self=False, recursive=True))


def learned_equivariance(model, plot=None):
    """One row per equivariant layer of ``model``.

    Every layer that defines ``equivariance_summary()`` (strict discrete and
    continuous group convolutions, `PartialGroupConv2D`, `Augerino`, the
    soft layers) contributes a dict with at least ``layer``, ``type``,
    ``group``, ``rotation_range_deg`` (the width of the sampled rotation
    range: 360 for the full group) and ``mirror_probability`` (``None``
    without mirrors); soft layers add ``omega_prime``.

    Args:
        model: a built Keras model or layer.
        plot: optional path of a PNG bar plot (needs matplotlib); a
            model without equivariant layers has none (ValueError).

    Returns:
        A list of dicts, in layer order.

    Example:

    >>> rows = learned_equivariance(model)  # doctest: +SKIP
    >>> print(format_learned_equivariance(rows))  # doctest: +SKIP
    """
    rows = []
    for layer in _layers(model):
        summary = getattr(layer, "equivariance_summary", None)
        if summary is None or not getattr(layer, "built", False):
            continue
        row = {"layer": layer.name, "type": type(layer).__name__}
        row.update(summary())
        for key, value in row.items():
            if hasattr(value, "shape") and not isinstance(value, (list, tuple)):
                value = np.asarray(ops.convert_to_numpy(value))
                row[key] = value.item() if value.size == 1 else value.tolist()
        rows.append(row)
    if plot is not None:
        plot_learned_equivariance(rows, plot)
    return rows


def format_learned_equivariance(rows):
    """A plain-text table of `learned_equivariance` rows."""
    header = ["layer", "type", "group", "rotation range (deg)", "mirror p", "omega'"]
    lines = [" | ".join(header), " | ".join("---" for _ in header)]
    for row in rows:
        missing = [key for key in ("layer", "type") if key not in row]
        if missing:
            raise ValueError(
                "format_learned_equivariance takes the rows of "
                f"learned_equivariance(model); a row lacks {missing}. "
                f"Received: {row!r}"
            )
        mirror = row.get("mirror_probability")
        omega = row.get("omega_prime")
        lines.append(
            " | ".join(
                [
                    row["layer"],
                    row["type"],
                    str(row.get("group", "")),
                    f"{row.get('rotation_range_deg', float('nan')):.1f}",
                    "-" if mirror is None else f"{mirror:.3f}",
                    "-" if omega is None else np.array2string(
                        np.asarray(omega), precision=3
                    ),
                ]
            )
        )
    return "\n".join(lines)


def plot_learned_equivariance(rows, path):
    """Bar plot of the learned rotation range (and mirror probability).

    Raises:
        ValueError: ``rows`` is empty (a model without equivariant layers:
            there is nothing to plot, and an empty figure would look like
            a result).
    """
    if not rows:
        raise ValueError(
            "No equivariant layers to plot: the model has no layer with "
            "`equivariance_summary()` (a plain CNN?). Received: rows=[]"
        )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [row["layer"] for row in rows]
    ranges = [row.get("rotation_range_deg", np.nan) for row in rows]
    mirrors = [row.get("mirror_probability") for row in rows]
    omegas = [row.get("omega_prime") for row in rows]
    panels = [("learned rotation range (deg)", ranges, (0, 370), "tab:blue")]
    if any(m is not None for m in mirrors):
        panels.append(("mirror probability",
                       [np.nan if m is None else m for m in mirrors], (0, 1.05),
                       "tab:orange"))
    if any(o is not None for o in omegas):
        # The largest entry per layer (x, y or theta), 0 for strict layers.
        values = [0.0 if o is None else float(np.max(o)) for o in omegas]
        panels.append(("max omega' (0 = strict)", values, None, "tab:green"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5),
                             squeeze=False)
    for ax, (label, values, limits, color) in zip(axes[0], panels):
        ax.bar(range(len(rows)), values, color=color)
        if limits:
            ax.set_ylim(*limits)
        ax.set_ylabel(label)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    fig.suptitle("Learned equivariance per layer")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def stochastic_predict(model, x, num_samples=8, batch_size=64):
    """Average ``num_samples`` stochastic forward passes (inference mode).

    Partial layers then sample their group elements as in training (the
    reference code's test-time behaviour) while batch normalisation and
    dropout stay in inference mode. Runs eagerly, batch by batch.

    Returns:
        numpy array of averaged outputs.
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"`num_samples` must be a positive integer. Received: {num_samples!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer. Received: {batch_size!r}")
    layers = [
        layer for layer in _layers(model) if hasattr(layer, "stochastic_inference")
    ]
    for layer in layers:
        layer.stochastic_inference = True
    try:
        outputs = []
        for start in range(0, len(x), batch_size):
            batch = x[start : start + batch_size]
            total = 0.0
            for _ in range(num_samples):
                total = total + np.asarray(
                    ops.convert_to_numpy(model(batch, training=False))
                )
            outputs.append(total / num_samples)
        return np.concatenate(outputs, axis=0)
    finally:
        for layer in layers:
            layer.stochastic_inference = False
