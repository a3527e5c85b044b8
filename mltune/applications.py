"""KerasTuner's ready-made image hypermodels by name (``keras_tuner.applications``), so that
``keras_tuner.applications.HyperXception(input_shape=(28, 28, 1), classes=10)`` runs under ``import mltune as
keras_tuner``.

Each declares KerasTuner's hyperparameters (names, values and defaults, in KerasTuner's order), so a preset
``HyperParameters`` or ``tune_new_entries=False`` picks the same ones, and compiles as KerasTuner's does
(``categorical_crossentropy``: one-hot labels; a Tuner's ``loss=`` overrides it). The layers are mltune's own
reading of each architecture, and nothing is downloaded: ``HyperEfficientNet`` starts from random weights where
KerasTuner's loads ImageNet's.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

from mltune.search.keras_tuner import HyperModel


class _ImageHyperModel(HyperModel):
    """Images in (``input_shape`` or ``input_tensor``), ``classes`` probabilities out (or features, without the
    top)."""

    def __init__(self, include_top: bool = True, input_shape: tuple[int, ...] | None = None,
                 input_tensor: Any = None, classes: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if include_top and not classes:
            raise ValueError(f"{type(self).__name__}: give classes= (the number of classes) with include_top=True")
        if input_shape is None and input_tensor is None:
            raise ValueError(f"{type(self).__name__}: give input_shape= (height, width, channels) or input_tensor=")
        self.include_top, self.input_shape, self.input_tensor, self.classes = \
            include_top, input_shape, input_tensor, classes

    def _inputs(self) -> tuple[Any, Any]:
        """The model's inputs and the tensor its layers start from."""
        if self.input_tensor is not None:
            return keras.utils.get_source_inputs(self.input_tensor), self.input_tensor
        inputs = keras.Input(shape=self.input_shape)
        return inputs, inputs


def _conv_bn(x: Any, filters: int, kernel: int, *, activation: str | None = "relu", strides: int = 1,
             groups: int = 1, kind: Any = layers.Conv2D, name: str | None = None) -> Any:
    """A convolution (``kind``: ``Conv2D`` or ``SeparableConv2D``) without bias, batch normalization, then the
    activation (None: none); for ``selu``, a self-normalizing convolution alone, as KerasTuner's Xception has it.
    ``name``: the layers' names start with it."""
    def named(part: str) -> str | None:
        return f"{name}_{part}" if name else None

    grouped = {"groups": groups} if groups > 1 else {}
    if activation == "selu":
        weights = ("depthwise_initializer", "pointwise_initializer") if kind is layers.SeparableConv2D else \
            ("kernel_initializer",)
        return kind(filters, kernel, strides=strides, padding="same", activation="selu", name=named("conv"),
                    **grouped, **dict.fromkeys(weights, "lecun_normal"))(x)
    x = kind(filters, kernel, strides=strides, padding="same", use_bias=False, name=named("conv"), **grouped)(x)
    x = layers.BatchNormalization(epsilon=1.001e-5, name=named("bn"))(x)
    return layers.Activation(activation, name=named(activation))(x) if activation else x


def _residual_block(x: Any, filters: int, *, stride: int, project: bool, version: str, name: str) -> Any:
    """A bottleneck block: ResNet v1 (activation after the sum), v2 (before each convolution) or ResNeXt
    (``next``: a 3x3 convolution in 32 groups, half as many channels out)."""
    out = filters * (2 if version == "next" else 4)
    if version == "v2":
        x = layers.Activation("relu", name=f"{name}_preact_relu")(
            layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_preact_bn")(x))
        shortcut = layers.Conv2D(out, 1, strides=stride, name=f"{name}_0_conv")(x) if project else x
    else:
        shortcut = _conv_bn(x, out, 1, strides=stride, activation=None, name=f"{name}_0") if project else x
    y = _conv_bn(x, filters, 1, strides=stride, name=f"{name}_1")
    y = _conv_bn(y, filters, 3, groups=32 if version == "next" else 1, name=f"{name}_2")
    if version == "v2":
        y = layers.Conv2D(out, 1, name=f"{name}_3_conv")(y)
    else:
        y = _conv_bn(y, out, 1, activation=None, name=f"{name}_3")
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return y if version == "v2" else layers.Activation("relu", name=f"{name}_out")(y)


class HyperResNet(_ImageHyperModel):
    """KerasTuner's ``HyperResNet``: ResNet v1, v2 or ResNeXt of 4 stages, the middle two of tuned depth."""

    def build(self, hp: Any) -> keras.Model:
        version = hp.Choice("version", ["v1", "v2", "next"], default="v2")
        depths = [3, hp.Choice("conv3_depth", [4, 8]), hp.Choice("conv4_depth", [6, 23, 36]), 3]
        widths = [64, 256, 512, 1024] if version == "next" else [64, 128, 256, 512]
        inputs, x = self._inputs()
        x = layers.Conv2D(64, 7, strides=2, padding="same", name="conv1_conv")(x)
        if version != "v2":
            x = layers.Activation("relu", name="conv1_relu")(layers.BatchNormalization(name="conv1_bn")(x))
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1_pool")(x)
        for stage, (width, depth) in enumerate(zip(widths, depths, strict=True), start=2):
            for block in range(depth):
                x = _residual_block(x, width, stride=2 if block == 0 and stage > 2 else 1, project=block == 0,
                                    version=version, name=f"conv{stage}_block{block + 1}")
        if version == "v2":
            x = layers.Activation("relu", name="post_relu")(layers.BatchNormalization(name="post_bn")(x))
        pooling = hp.Choice("pooling", ["avg", "max"], default="avg")
        x = (layers.GlobalAveragePooling2D if pooling == "avg" else layers.GlobalMaxPooling2D)(name="pool")(x)
        if not self.include_top:
            return keras.Model(inputs, x, name="ResNet")
        model = keras.Model(inputs, layers.Dense(self.classes, activation="softmax", name="probs")(x), name="ResNet")
        optimizer = keras.optimizers.get(hp.Choice("optimizer", ["adam", "rmsprop", "sgd"], default="adam"))
        optimizer.learning_rate = hp.Choice("learning_rate", [0.1, 0.01, 0.001], default=0.01)
        model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
        return model


def _xception_block(x: Any, filters: int, activation: str, *, pool: bool) -> Any:
    """Two separable convolutions, a residual connection around them, and a 2x max pooling in the exit flow."""
    shortcut = x
    if pool or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=2 if pool else 1, padding="same")(x)
    for _ in range(2):
        x = _conv_bn(x, filters, 3, activation=activation, kind=layers.SeparableConv2D)
    if pool:
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    return layers.Add()([x, shortcut])


class HyperXception(_ImageHyperModel):
    """KerasTuner's ``HyperXception``: a convolution, separable-convolution residual blocks of tuned number and
    width, an exit block, pooling and dense layers."""

    def build(self, hp: Any) -> keras.Model:
        activation = hp.Choice("activation", ["relu", "selu"])
        inputs, x = self._inputs()
        filters = hp.Choice("conv2d_num_filters", [32, 64, 128], default=64)
        kernel = hp.Choice("kernel_size", [3, 5])
        strides = hp.Choice("initial_strides", [2])
        x = _conv_bn(x, filters, kernel, activation=activation, strides=strides)
        width = hp.Int("sep_num_filters", 128, 768, step=128, default=256)
        for _ in range(hp.Int("num_residual_blocks", 2, 8, default=4)):
            x = _xception_block(x, width, activation, pool=False)
        x = _xception_block(x, 2 * width, activation, pool=True)
        pooling = hp.Choice("pooling", ["avg", "flatten", "max"])
        x = {"avg": layers.GlobalAveragePooling2D, "flatten": layers.Flatten,
             "max": layers.GlobalMaxPooling2D}[pooling]()(x)
        if not self.include_top:
            return keras.Model(inputs, x, name="Xception")
        dense_layers = hp.Int("num_dense_layers", 1, 3)
        dropout = hp.Float("dropout_rate", 0.0, 0.6, step=0.1, default=0.5)
        batchnorm = hp.Choice("dense_use_bn", [True, False])
        for _ in range(dense_layers):  # as wide as the classes, as KerasTuner's
            x = layers.Dense(self.classes, activation=activation,
                             kernel_initializer="lecun_normal" if activation == "selu" else "glorot_uniform")(x)
            x = layers.BatchNormalization()(x) if batchnorm and activation == "relu" else x
            x = layers.Dropout(dropout)(x) if dropout else x
        model = keras.Model(inputs, layers.Dense(self.classes, activation="softmax")(x), name="Xception")
        model.compile(optimizer=keras.optimizers.Adam(hp.Choice("learning_rate", [1e-3, 1e-4, 1e-5])),
                      loss="categorical_crossentropy", metrics=["accuracy"])
        return model


_EFFICIENTNET_SIZES = {"B0": 224, "B1": 240, "B2": 260, "B3": 300, "B4": 380, "B5": 456, "B6": 528, "B7": 600}


class HyperEfficientNet(_ImageHyperModel):
    """KerasTuner's ``HyperEfficientNet``: Keras' EfficientNet B0-B7 (images resized to its size) under a new top,
    trained from random weights (nothing is downloaded; KerasTuner's loads ImageNet's). ``augmentation_model``, a
    Keras model or a HyperModel, runs first on the images."""

    def __init__(self, input_shape: tuple[int, ...] | None = None, input_tensor: Any = None,
                 classes: int | None = None, augmentation_model: Any = None, **kwargs: Any) -> None:
        if augmentation_model is not None and not (isinstance(augmentation_model, keras.Model) or
                                                   callable(getattr(augmentation_model, "build", None))):
            raise ValueError(f"HyperEfficientNet: augmentation_model must be a Keras model or a HyperModel, but got "
                             f"{augmentation_model!r}")
        super().__init__(True, input_shape, input_tensor, classes, **kwargs)
        self.augmentation_model = augmentation_model

    def build(self, hp: Any) -> keras.Model:
        inputs, x = self._inputs()
        if self.augmentation_model is not None:
            augment = self.augmentation_model
            x = (augment if isinstance(augment, keras.Model) else augment.build(hp))(x)
        version = hp.Choice("version", list(_EFFICIENTNET_SIZES), default="B0")
        size = _EFFICIENTNET_SIZES[version]
        x = layers.Resizing(size, size, interpolation="bilinear")(x)
        base = getattr(keras.applications, f"EfficientNet{version}")(include_top=False, weights=None, input_tensor=x)
        pooling = hp.Choice("pooling", ["avg", "max"], default="avg")
        x = (layers.GlobalAveragePooling2D if pooling == "avg" else layers.GlobalMaxPooling2D)(name="pool")(base.output)
        x = layers.Dropout(hp.Float("top_dropout_rate", 0.2, 0.8, step=0.2, default=0.2), name="top_dropout")(x)
        model = keras.Model(inputs, layers.Dense(self.classes, activation="softmax", name="probs")(x),
                            name="EfficientNet")
        learning_rate = hp.Choice("learning_rate", [0.1, 0.01, 0.001], default=0.01)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.1),
                      loss="categorical_crossentropy", metrics=["accuracy"])
        return model


__all__ = ["HyperEfficientNet", "HyperResNet", "HyperXception"]
