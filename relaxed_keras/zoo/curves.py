"""Plots of a training's epoch records (`relaxed_keras.zoo.checkpoints`)."""

import numpy as np

CURVES_FILE = "training_curves.png"
EQUIVARIANCE_FILE = "learned_equivariance.png"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path, title):
    from matplotlib.ticker import MaxNLocator

    for ax in fig.axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_training_curves(records, path, chosen_epoch=None, title=None):
    """Loss, accuracy (training and validation) and learning rate against
    epoch; a dashed line marks ``chosen_epoch``."""
    if not records:
        raise ValueError("No epoch records to plot. Received: records=[]")
    plt = _pyplot()
    epochs = [r["epoch"] for r in records]
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    panels = (("loss", "loss", None), ("accuracy", "accuracy (%)", 100.0),
              ("learning_rate", "learning rate", None))
    for ax, (key, label, scale) in zip(axes, panels):
        for prefix, name in (("", "train"), ("val_", "validation")):
            values = [r.get(prefix + key) for r in records]
            if key == "learning_rate" and prefix:
                continue
            if all(v is None for v in values):
                continue
            values = np.array([np.nan if v is None else v for v in values])
            ax.plot(epochs, values * (scale or 1.0), marker=".", label=name)
        if chosen_epoch is not None:
            ax.axvline(chosen_epoch, color="gray", linestyle="--", linewidth=1,
                       label=f"chosen epoch {chosen_epoch}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if key != "learning_rate":
            ax.legend(fontsize=8)
    return _save(plt, fig, path, title)


def equivariance_series(records):
    """``{(layer, quantity): [value per epoch]}`` of the learned
    equivariance in the records (omega' as its largest entry)."""
    series = {}
    for index, record in enumerate(records):
        for layer, entry in (record.get("learned_equivariance") or {}).items():
            for key, value in entry.items():
                value = float(np.max(value))
                values = series.setdefault((layer, key), [np.nan] * len(records))
                values[index] = value
    return series


def plot_learned_equivariance_history(records, path, title=None):
    """The learned rotation range, mirror probability and omega' of each
    layer against epoch. Returns ``None`` when nothing is learned (strict
    and plain models)."""
    series = equivariance_series(records)
    quantities = [q for q in ("omega_prime", "rotation_range_deg",
                              "mirror_probability", "relaxed_weights_spread")
                  if any(k == q for _, k in series)]
    # Strict layers report a fixed full range: only moving quantities count.
    moving = [q for q in quantities if any(
        np.nanmax(v) - np.nanmin(v) > 0 for (_, k), v in series.items() if k == q
    )]
    if not moving:
        return None
    plt = _pyplot()
    labels = {"omega_prime": "max omega' (0 = strict)",
              "rotation_range_deg": "rotation range (deg)",
              "mirror_probability": "mirror probability",
              "relaxed_weights_spread": "relaxed weights spread (0 = strict)"}
    epochs = [r["epoch"] for r in records]
    fig, axes = plt.subplots(1, len(moving), figsize=(5.5 * len(moving), 3.8),
                             squeeze=False)
    for ax, quantity in zip(axes[0], moving):
        for (layer, key), values in series.items():
            if key == quantity:
                ax.plot(epochs, values, marker=".", label=layer)
        ax.set_xlabel("epoch")
        ax.set_ylabel(labels[quantity])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(plt, fig, path, title)
