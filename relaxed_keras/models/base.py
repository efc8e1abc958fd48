"""Base class of the zoo's functional models."""

import keras


class ZooModel(keras.Model):
    """A functional `keras.Model` whose config is its constructor arguments.

    Subclasses build the graph in ``__init__`` (keras-hub style), call
    ``super().__init__(inputs, outputs, name=...)`` and then
    `_store_config` with their arguments.
    """

    def _store_config(self, **config):
        self._zoo_config = config

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, **self._zoo_config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
