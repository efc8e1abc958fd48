"""What the ``relaxed-keras`` command line prints and plots: aligned
tables and the PNGs of learned equivariance and of a rotation sweep."""

import os


def fmt(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    return str(value)


def print_table(headers, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(str(h).ljust(w) for h, w in zip(headers, widths))
    print(line)
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


def plots(rows, sweep, output, name):
    """PNGs of learned-equivariance rows and a rotation sweep (accuracy as a
    fraction); none when matplotlib is missing."""
    from relaxed_keras import diagnostics

    paths = {}
    try:
        if rows:
            paths["learned_equivariance"] = diagnostics.plot_learned_equivariance(
                rows, os.path.join(output, "learned_equivariance.png")
            )
        sweep_path = os.path.join(output, "rotation_sweep.png")
        diagnostics.plot_rotation_sweep(
            sweep, sweep_path, title=f"{name}: accuracy vs. rotation"
        )
        paths["rotation_sweep"] = sweep_path
    except ImportError:  # matplotlib missing: numbers only
        pass
    return paths


def save_plots(model, x, y, output, name):
    from relaxed_keras import diagnostics

    rows = diagnostics.learned_equivariance(model)
    sweep = diagnostics.rotation_sweep(
        model, x, y, angles=tuple(range(0, 360, 30)), circle_crop=False
    )
    return rows, sweep, plots(rows, sweep, output, name)
