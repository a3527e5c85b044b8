"""`keras_tuner_digits.py` run by mltune: the import is the only change, and the last lines register the best model.

Every trial is a nested MLflow run under the study's parent run `digits_cnn` (`mlflow ui`, then Model training ->
Training runs), with its hp values as params and per-epoch metrics."""

import keras
import mltune as keras_tuner
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def build_model(hp):
    model = keras.Sequential([keras.Input((8, 8, 1))])
    for i in range(hp.Int("conv_blocks", 1, 2)):
        model.add(keras.layers.Conv2D(hp.Int(f"filters_{i}", 8, 32, step=8), 3, padding="same",
                                      activation=hp.Choice("activation", ["relu", "tanh"])))
        model.add(keras.layers.MaxPooling2D())
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dense(units=hp.Int("units", min_value=32, max_value=128, step=32), activation="relu"))
    if hp.Boolean("dropout"):
        model.add(keras.layers.Dropout(rate=0.25))
    model.add(keras.layers.Dense(10, activation="softmax"))
    learning_rate = hp.Float("lr", min_value=1e-4, max_value=1e-2, sampling="log")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def load_images():
    digits = load_digits()
    x, y = (digits.images / 16.0).astype("float32")[..., None], digits.target
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    x_train, x_val, y_train, y_val = train_test_split(x_train, y_train, test_size=0.2, random_state=0,
                                                      stratify=y_train)
    return (x_train, y_train), (x_val, y_val), (x_test, y_test)


if __name__ == "__main__":
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_images()
    tuner = keras_tuner.RandomSearch(build_model, objective="val_accuracy", max_trials=5, overwrite=True,
                                     directory="my_dir", project_name="digits_cnn")
    tuner.search_space_summary()
    tuner.search(x_train, y_train, epochs=2, validation_data=(x_val, y_val), verbose=0)
    models = tuner.get_best_models(num_models=2)
    best_model = models[0]
    best_model.summary()
    tuner.results_summary()
    loss, accuracy = best_model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy of the best model: {accuracy:.4f}")
    # mltune only: register the best model behind the champion/challenger gate (alias `champion` the first time)
    version = tuner.promote("digits-cnn", test_data=(x_test, y_test))
    print(f"registered digits-cnn version {version}: {tuner.promotion.reason}")
