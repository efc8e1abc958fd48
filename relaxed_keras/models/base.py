"""Base class of the zoo's functional models."""

import keras


class ZooModel(keras.Model):
    """A functional `keras.Model` whose config is its constructor arguments.

    Subclasses build the feature graph in ``__init__`` (keras-hub style) and
    end with `_finish_classifier`, which adds the dense head, initialises the
    functional model and records the config.
    """

    def _finish_classifier(self, inputs, features, spec, model_kwargs, **config):
        """Dense head ``logits``, ``keras.Model.__init__`` and the config.

        Args:
            inputs: the `keras.Input`.
            features: ``[B, C]`` features.
            spec: the `ModelSpec` (its equivariance/group/relaxed settings
                join the config).
            model_kwargs: ``name`` etc. for `keras.Model`.
            **config: the remaining constructor arguments; must include
                ``input_shape`` and ``num_classes``.
        """
        logits = keras.layers.Dense(config["num_classes"], name="logits")
        super().__init__(inputs, logits(features), **model_kwargs)
        config["input_shape"] = tuple(config["input_shape"])
        self._zoo_config = {**config, **spec.get_config()}

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, **self._zoo_config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
