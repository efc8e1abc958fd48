"""Load a pretrained preset, evaluate it, fine-tune it with `model.fit`.

Run: ``KERAS_BACKEND=jax python examples/finetune_preset.py``
(the same as ``relaxed-keras finetune p4cnn_partial_mnist6_180``).
"""

import relaxed_keras as rk

NAME = "p4cnn_partial_mnist6_180"

model = rk.zoo.load(NAME)  # compiled: Adam, cross-entropy on logits, accuracy
(x_train, y_train), (x_test, y_test) = rk.datasets.mnist6_180(source="subset")
print("before:", model.evaluate(x_test, y_test, verbose=0))
model.fit(x_train, y_train, batch_size=32, epochs=1,
          callbacks=[rk.callbacks.GumbelTemperatureSchedule()])
print("after: ", model.evaluate(x_test, y_test, verbose=0))
print(rk.diagnostics.format_learned_equivariance(
    rk.diagnostics.learned_equivariance(model)))
