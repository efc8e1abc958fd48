"""Small models shared by the tests."""

import keras

import relaxed_keras as rk


def small_gcnn(group="p4", input_shape=(12, 12, 1), num_classes=3, name=None):
    """Lifting -> BN -> ReLU -> group conv -> pool -> group conv -> pooled."""
    inputs = keras.Input(input_shape)
    x = rk.layers.LiftingConv2D(4, 3, group, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = rk.layers.GroupConv2D(4, 3, group, padding="same", activation="relu")(x)
    x = rk.layers.GroupMaxPooling2D(2)(x)
    x = rk.layers.GroupAveragePooling2D(3, strides=1, padding="same")(x)
    x = rk.layers.GroupConv2D(4, 3, group)(x)
    x = rk.layers.GroupPooling("max")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs, name=name)
