"""The optimiser of a training recipe: Adam or AdamW with a schedule."""

import re

import keras

SCHEDULES = ("constant", "cosine")
# Weight decay applies to convolution, dense and kernel-network matrices
# only: biases, batch-norm scales and offsets, and the learned symmetry
# parameters (relaxed weights, theta, omega') have their own priors, and a
# decay towards 0 would shrink a partial layer's subgroup.
DECAYED = re.compile(r"^kernel(_\d+)?$")


def learning_rate_schedule(recipe, steps_per_epoch):
    """The recipe's learning rate: a float (``"constant"``) or a
    `keras.optimizers.schedules.CosineDecay` to 0 over all steps, after
    ``warmup_epochs`` of linear warm-up from 0."""
    rate = recipe["learning_rate"]
    schedule = recipe.get("schedule", "constant")
    if schedule not in SCHEDULES:
        raise ValueError(
            f"`schedule` must be one of {SCHEDULES}. Received: "
            f"schedule={schedule!r}"
        )
    if schedule == "constant":
        return rate
    total = recipe["epochs"] * steps_per_epoch
    warmup = min(total - 1, int(recipe.get("warmup_epochs", 0) * steps_per_epoch))
    if warmup <= 0:
        return keras.optimizers.schedules.CosineDecay(rate, total)
    return keras.optimizers.schedules.CosineDecay(
        0.0, total - warmup, warmup_target=rate, warmup_steps=warmup
    )


def make_optimizer(model, recipe, steps_per_epoch):
    """Adam (``weight_decay`` 0) or AdamW with decoupled weight decay on
    the model's kernel matrices (`DECAYED`), at the recipe's schedule."""
    rate = learning_rate_schedule(recipe, steps_per_epoch)
    decay = float(recipe.get("weight_decay", 0.0))
    if decay == 0.0:
        return keras.optimizers.Adam(rate)
    optimizer = keras.optimizers.AdamW(rate, weight_decay=decay)
    optimizer.exclude_from_weight_decay(var_list=[
        v for v in model.trainable_variables if not DECAYED.match(v.name)
    ])
    return optimizer
