"""The Keras network: an LSTM encoder over the history and a per-hour decoder over the horizon.

Imports TensorFlow/Keras; import this module only where training or
prediction runs.
"""

import keras
import numpy as np
from keras import layers, ops

QUANTILES = (0.1, 0.5, 0.9)
# Output channels per horizon hour: the mean (point forecast, squared loss), then the quantiles.
OUTPUT_CHANNELS = ("mean", "p10", "p50", "p90")


@keras.saving.register_keras_serializable(package="vatio")
class ForecastLoss(keras.losses.Loss):
    """Squared error on the mean channel plus weighted pinball loss on P10/P50/P90."""

    def __init__(self, quantile_weight: float = 1.0, name: str = "forecast_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.quantile_weight = quantile_weight

    def call(self, target, predicted):
        # target [batch, horizon], predicted [batch, horizon, 4] -> per-sample loss [batch]
        target = ops.expand_dims(target, -1)
        squared = ops.mean(ops.square(target[..., 0] - predicted[..., 0]), axis=-1)
        errors = target - predicted[..., 1:]  # [batch, horizon, 3]
        quantiles = ops.convert_to_tensor(np.array(QUANTILES, dtype="float32"))
        pinball = ops.mean(ops.maximum(quantiles * errors, (quantiles - 1.0) * errors), axis=(-2, -1))
        return squared + self.quantile_weight * len(QUANTILES) * pinball

    def get_config(self) -> dict:
        return {**super().get_config(), "quantile_weight": self.quantile_weight}


def build_network(
    input_hours: int,
    history_features: int,
    horizon_hours: int,
    future_features: int,
    units: int = 64,
    decoder_units: int = 64,
    dropout: float = 0.1,
    sequence_decoder: bool = False,
) -> keras.Model:
    """Build the multi-horizon, direct-output quantile LSTM."""
    history = keras.Input((input_hours, history_features), name="history")
    future = keras.Input((horizon_hours, future_features), name="future")
    encoded = layers.LSTM(units, name="encoder")(history)  # [batch, time, features] -> [batch, units]
    encoded = layers.Dropout(dropout)(encoded)
    repeated = layers.RepeatVector(horizon_hours)(encoded)  # -> [batch, horizon, units]
    joined = layers.Concatenate()([repeated, future])  # -> [batch, horizon, units + future_features]
    if sequence_decoder:
        # Each target hour also sees its neighbours' known-ahead features (e.g. the weather an hour later).
        joined = layers.Bidirectional(layers.LSTM(decoder_units // 2, return_sequences=True), name="decoder")(
            joined
        )  # -> [batch, horizon, decoder_units]
    hidden = layers.Dense(decoder_units, activation="relu")(joined)  # -> [batch, horizon, decoder_units]
    hidden = layers.Dense(decoder_units // 2, activation="relu")(hidden)
    per_hour = layers.Dense(len(OUTPUT_CHANNELS))(hidden)  # -> [batch, horizon, 4]
    direct = layers.Dense(horizon_hours * len(OUTPUT_CHANNELS))(encoded)  # [batch, units] -> [batch, horizon * 4]
    direct = layers.Reshape((horizon_hours, len(OUTPUT_CHANNELS)))(direct)
    outputs = layers.Add(name="forecast")([per_hour, direct])  # [batch, horizon, 4]
    return keras.Model([history, future], outputs, name="vatio_forecast")


def average_networks(networks: list[keras.Model]) -> keras.Model:
    """Combine trained members into one model that averages their outputs (one .keras file)."""
    if len(networks) == 1:
        return networks[0]
    inputs = [
        keras.Input(tensor.shape[1:], name=name)
        for tensor, name in zip(networks[0].inputs, ("history", "future"), strict=True)
    ]
    members = []
    for k, network in enumerate(networks):
        # An uncompiled copy, so the saved file carries no training state.
        member = keras.models.clone_model(network)
        member.set_weights(network.get_weights())
        member.name = f"member_{k}"
        members.append(member)
    networks = members
    outputs = layers.Average(name="forecast")([network(inputs) for network in networks])
    return keras.Model(inputs, outputs, name="vatio_forecast_ensemble")


def compile_and_fit(
    network: keras.Model,
    train_dataset,
    validation_dataset,
    checkpoint_path: str,
    max_epochs: int = 60,
    patience: int = 8,
    learning_rate: float = 2e-3,
    verbose: int = 1,
    quantile_weight: float = 1.0,
) -> keras.callbacks.History:
    """Train with early stopping on the validation loss and keep the best weights in a checkpoint."""
    network.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=ForecastLoss(quantile_weight))
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True),
        keras.callbacks.ModelCheckpoint(checkpoint_path, monitor="val_loss", save_best_only=True),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=max(2, patience // 2)),
    ]
    return network.fit(
        train_dataset,
        validation_data=validation_dataset,
        epochs=max_epochs,
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,
    )  # the dataset shuffles itself
