"""Small models shared by the tests."""

import keras

import relaxed_keras as rk


def small_gcnn(group="p4", input_shape=(12, 12, 1), num_classes=3, name=None):
    """Lifting -> BN -> ReLU -> dropout -> group conv -> pool -> group conv
    -> pooled (relaxed_keras's batch norm and dropout, unseeded as in the
    zoo)."""
    inputs = keras.Input(input_shape)
    x = rk.layers.LiftingConv2D(4, 3, group, padding="same")(inputs)
    x = rk.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = rk.layers.Dropout(0.1)(x)
    x = rk.layers.GroupConv2D(4, 3, group, padding="same", activation="relu")(x)
    x = rk.layers.GroupMaxPooling2D(2)(x)
    x = rk.layers.GroupAveragePooling2D(3, strides=1, padding="same")(x)
    x = rk.layers.GroupConv2D(4, 3, group)(x)
    x = rk.layers.GroupPooling("max")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs, name=name)


def small_partial(group="se2_4", input_shape=(12, 12, 1), num_classes=3,
                  partial=True, mirror_logit=2.0, distribution_lr_factor=0.1,
                  name=None):
    """Continuous lifting -> BN -> partial (or strict continuous) group conv
    -> BN -> ReLU -> pointwise shortcut -> masked group pooling -> dense
    (relaxed_keras's batch norm, as in the zoo: Keras's breaks torch.compile
    graphs)."""
    inputs = keras.Input(input_shape)
    x, g = rk.layers.ContinuousLiftingConv2D(
        4, 3, group, kernel_network=rk.kernels.SIREN(8), padding="same",
        name="lift")(inputs)
    x = rk.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    if partial:
        conv = rk.layers.PartialGroupConv2D(
            4, 3, group, kernel_network=rk.kernels.SIREN(8), padding="same",
            initial_mirror_logit=mirror_logit, temperature_decay_steps=10,
            distribution_lr_factor=distribution_lr_factor, initial_theta=0.9,
            name="partial")
    else:
        conv = rk.layers.ContinuousGroupConv2D(
            4, 3, group, kernel_network=rk.kernels.SIREN(8), padding="same",
            name="partial")
    y, h = conv([x, g])
    y = rk.layers.BatchNormalization()(y)
    y = keras.layers.ReLU()(y)
    s, _ = rk.layers.PointwiseGroupConv2D(4, group, name="shortcut")([x, g, h])
    y = keras.layers.Add()([y, s])
    y = rk.layers.ContinuousGroupPooling("max")([y, h])
    y = keras.layers.GlobalAveragePooling2D()(y)
    outputs = keras.layers.Dense(num_classes)(y)
    return keras.Model(inputs, outputs, name=name)
