"""The backbone zoo: one spec per backbone, in one registry.

Adding a backbone means adding one ``BackboneSpec`` to ``BACKBONES``. Every model is built with
tf_keras as a *flat* functional model (the base's layers live directly in the classifier, no
nested sub-model) and without in-model preprocessing layers, so TFMOT can quantize it;
normalisation is carried by the artifact's contract instead.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Optional

from edgetl import _tf
from edgetl.errors import EdgetlError

IMAGENET_TF_MEAN = [127.5, 127.5, 127.5]  # "tf" mode: pixels scaled to [-1, 1]
IMAGENET_TF_STD = [127.5, 127.5, 127.5]
CAFFE_MEAN_BGR = [103.939, 116.779, 123.68]  # "caffe" mode: BGR, mean-subtracted, no scaling
TORCH_MEAN = [123.675, 116.28, 103.53]
TORCH_STD = [58.395, 57.12, 57.375]


@dataclass(frozen=True)
class SeedClaim:
    """A row of the seed's comparison table, as the seed states it."""

    family: str
    depth: str
    depth_min: int
    params_m: float
    params_text: str
    key_advantage: str
    use_case: str
    describes: str = ""  # the network the row's figures fit (the seed names none; the paper as in BACKBONES)
    size: int = 224  # that network's ImageNet input size (AlexNet's 60 M parameters: 62.4 M at 227 px, 50.8 M at 224)


# The seed's table (the brief edgetl started from) as it states it; it gives no source for its figures.
SEED_TABLE = {
    "AlexNet": SeedClaim("AlexNet", "8", 8, 60.0, "60 M", "Simplicity", "Generic",
                         "AlexNet (Krizhevsky et al. 2012)", 227),
    "VGG": SeedClaim("VGG", "16-19", 16, 138.0, "138 M", "Fine features", "Detail-rich",
                     "VGG16/19 (Simonyan & Zisserman 2014)"),
    "ResNet": SeedClaim("ResNet", "50+", 50, 25.0, "~25 M", "Skip connections", "Complex tasks",
                        "ResNet50 (He et al. 2015)"),
    "MobileNet": SeedClaim("MobileNet", "28", 28, 4.2, "~4.2 M", "Lightweight", "Mobile apps",
                           "MobileNet v1 1.0 (Howard et al. 2017)"),
}
CLASSIC_ALPHA = 1.0  # the classic networks' width (each row's input size: SeedClaim.size)
CLASSIC_SOURCE = (
    "classic rows: the comparison table of edgetl's seed (the brief the project started from; "
    "edgetl/backbones/registry.py SEED_TABLE) as it states it, with no source given: depth and parameters of "
    "the original 1000-class ImageNet classifiers at width 1.0 and 224 px (AlexNet 227), with the paper of the network each "
    "row fits. Measured rows: edgetl's build of that backbone at the alpha and px shown, on this host "
    "(random weights unless --data). Depth counts layers with weights; params are compared at alpha 1.0 only.")


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    family: str  # row of SEED_TABLE
    description: str
    default_size: int
    min_size: int
    build: Callable  # build(input_tensor, alpha, weights, include_top, classes) -> tf_keras Model
    mean: list
    std: list
    channel_order: str = "RGB"
    alphas: Optional[tuple] = None  # None: the backbone has no width multiplier
    default_alpha: Optional[float] = None
    weight_files: Optional[Callable] = None  # (alpha, size) -> keras' file names, best first
    weights_url: Optional[str] = None
    params: int = 0  # of the classic 1000-class classifier at default_size (and default alpha); checked by tests
    weight_layers: int = 0  # depth as the seed counts it (count_weight_layers) of that classifier; checked by tests
    parts: tuple = ()  # ((backbone, alpha), ...) a fused backbone runs side by side; each part's weights are its own
    max_size: int = 1024  # beyond it one image's float input alone is tens of MB and training runs out of memory

    @property
    def seed(self) -> SeedClaim:
        return SEED_TABLE[self.family]

    def check_alpha(self, alpha: Optional[float]) -> Optional[float]:
        if alpha is None:
            return self.default_alpha
        if self.alphas is None:
            raise EdgetlError(f"--alpha is not an option of {self.name}; drop it (only mobilenet and mobilenet_v2 take --alpha)")
        if float(alpha) not in self.alphas:
            raise EdgetlError(f"--alpha {alpha} is not valid for {self.name}; choose one of {', '.join(map(str, self.alphas))}")
        return float(alpha)

    def check_size(self, size: Optional[int]) -> int:
        size = int(size or self.default_size)
        if size < self.min_size:
            raise EdgetlError(f"--input-size {size} is below {self.name}'s minimum of {self.min_size} px; use {self.min_size} or more")
        if size > self.max_size:
            raise EdgetlError(f"--input-size {size} is above {self.name}'s maximum of {self.max_size} px: one image needs "
                              f"{_bytes(size * size * 3 * 4)} as float32 input ({size}x{size}x3x4 B), a batch of 32 "
                              f"{_bytes(32 * size * size * 3 * 4)} before the network's activations; use "
                              f"{self.max_size} or less (default {self.default_size})")
        return size


def _bytes(n: int) -> str:
    for unit, k in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20)):
        if n >= k:
            return f"{n / k:.1f} {unit}"
    return f"{n / 1024:.1f} KiB"


# ---- builders -----------------------------------------------------------------------------

def _apps():
    return _tf.keras().applications


def _build_alexnet(input_tensor, alpha, weights, include_top, classes):
    """AlexNet after Krizhevsky et al. 2012 (single-tower, no LRN): 5 conv + 3 dense, ReLU, dropout."""
    L = _tf.keras().layers
    x = L.Conv2D(96, 11, strides=4, activation="relu", name="conv1")(input_tensor)
    x = L.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = L.Conv2D(256, 5, padding="same", activation="relu", name="conv2")(x)
    x = L.MaxPooling2D(3, strides=2, name="pool2")(x)
    x = L.Conv2D(384, 3, padding="same", activation="relu", name="conv3")(x)
    x = L.Conv2D(384, 3, padding="same", activation="relu", name="conv4")(x)
    x = L.Conv2D(256, 3, padding="same", activation="relu", name="conv5")(x)
    x = L.MaxPooling2D(3, strides=2, name="pool5")(x)
    if include_top:
        x = L.Flatten(name="flatten")(x)
        x = L.Dense(4096, activation="relu", name="fc6")(x)
        x = L.Dropout(0.5, name="drop6")(x)
        x = L.Dense(4096, activation="relu", name="fc7")(x)
        x = L.Dropout(0.5, name="drop7")(x)
        x = L.Dense(classes, activation="softmax", name="predictions")(x)
    model = _tf.keras().Model(input_tensor, x, name="alexnet")
    if weights is not None:
        model.load_weights(weights)
    return model


def _keras_app(fn_name, **fixed):
    def build(input_tensor, alpha, weights, include_top, classes):
        kwargs = dict(fixed)
        if alpha is not None:
            kwargs["alpha"] = alpha
        fn = getattr(_apps(), fn_name)
        return fn(include_top=include_top, weights=weights, input_tensor=input_tensor, classes=classes, **kwargs)

    return build


def _build_fused(parts):
    """Several backbones side by side on one input, their last feature maps concatenated along channels.

    The graph stays flat (each keras.applications model is built on the shared input tensor), so
    phase 2's "top N layers" are the top layers of every branch, interleaved by depth. ``weights``
    is None or one weight file per part, joined by ``os.pathsep`` (``weights.resolve_weights``).
    """
    def build(input_tensor, alpha, weights, include_top, classes):
        keras = _tf.keras()
        files = weights.split(os.pathsep) if weights else [None] * len(parts)
        if len(files) != len(parts):
            raise ValueError(f"needs {len(parts)} weight files (one per branch), got {len(files)}")
        outs = [BACKBONES[name].build(input_tensor, a, f, False, classes).output for (name, a), f in zip(parts, files)]
        x = keras.layers.Concatenate(name="fused_features")(outs)
        if include_top:
            x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
            x = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
        return keras.Model(input_tensor, x, name="_".join(n for n, _ in parts) + "_fused")

    return build


def _mnv1_files(alpha, size):
    text = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}[alpha]
    return [f"mobilenet_{text}_{s}_tf_no_top.h5" for s in _size_pref(size, (128, 160, 192, 224))]


def _mnv2_files(alpha, size):
    return [
        f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{s}_no_top.h5"
        for s in _size_pref(size, (96, 128, 160, 192, 224))
    ]


def _size_pref(size, sizes):
    """Keras' file for the exact size first, then 224, then the others: conv weights do not depend on size."""
    order = [size] if size in sizes else []
    order += [224] if 224 not in order else []
    order += [s for s in sorted(sizes, key=lambda s: abs(s - size)) if s not in order]
    return order


def _fixed_file(name):
    return lambda alpha, size: [name]


_KA = "https://storage.googleapis.com/tensorflow/keras-applications/"

BACKBONES: dict[str, BackboneSpec] = {}


def register(spec: BackboneSpec) -> BackboneSpec:
    BACKBONES[spec.name] = spec
    return spec


register(BackboneSpec(
    name="alexnet", params=62378344, weight_layers=8, family="AlexNet", description="Krizhevsky et al. 2012, written in tf_keras (no public Keras weights)",
    default_size=227, min_size=67, build=_build_alexnet, mean=TORCH_MEAN, std=TORCH_STD,
))
register(BackboneSpec(
    name="vgg16", params=138357544, weight_layers=16, family="VGG", description="Simonyan & Zisserman 2014, keras.applications.VGG16",
    default_size=224, min_size=32, build=_keras_app("VGG16"), mean=CAFFE_MEAN_BGR, std=[1.0, 1.0, 1.0],
    channel_order="BGR", weight_files=_fixed_file("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    weights_url=_KA + "vgg16/",
))
register(BackboneSpec(
    name="vgg19", params=143667240, weight_layers=19, family="VGG", description="Simonyan & Zisserman 2014, keras.applications.VGG19",
    default_size=224, min_size=32, build=_keras_app("VGG19"), mean=CAFFE_MEAN_BGR, std=[1.0, 1.0, 1.0],
    channel_order="BGR", weight_files=_fixed_file("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    weights_url=_KA + "vgg19/",
))
register(BackboneSpec(
    name="resnet50", params=25636712, weight_layers=54, family="ResNet", description="He et al. 2015, keras.applications.ResNet50",
    default_size=224, min_size=32, build=_keras_app("ResNet50"), mean=CAFFE_MEAN_BGR, std=[1.0, 1.0, 1.0],
    channel_order="BGR", weight_files=_fixed_file("resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    weights_url=_KA + "resnet/",
))
register(BackboneSpec(
    name="resnet101", params=44707176, weight_layers=105, family="ResNet", description="He et al. 2015, keras.applications.ResNet101",
    default_size=224, min_size=32, build=_keras_app("ResNet101"), mean=CAFFE_MEAN_BGR, std=[1.0, 1.0, 1.0],
    channel_order="BGR", weight_files=_fixed_file("resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    weights_url=_KA + "resnet/",
))
register(BackboneSpec(
    name="mobilenet", params=4253864, weight_layers=28, family="MobileNet", description="Howard et al. 2017 (v1), keras.applications.MobileNet",
    default_size=224, min_size=32, build=_keras_app("MobileNet"), mean=IMAGENET_TF_MEAN, std=IMAGENET_TF_STD,
    alphas=(0.25, 0.5, 0.75, 1.0), default_alpha=1.0, weight_files=_mnv1_files, weights_url=_KA + "mobilenet/",
))
register(BackboneSpec(
    name="mobilenet_v2", params=3538984, weight_layers=53, family="MobileNet", description="Sandler et al. 2018, keras.applications.MobileNetV2",
    default_size=224, min_size=32, build=_keras_app("MobileNetV2"), mean=IMAGENET_TF_MEAN, std=IMAGENET_TF_STD,
    alphas=(0.35, 0.5, 0.75, 1.0, 1.3, 1.4), default_alpha=1.0, weight_files=_mnv2_files,
    weights_url=_KA + "mobilenet_v2/",
))
register(BackboneSpec(
    name="mobilenet_v3_small", params=2554968, weight_layers=54, family="MobileNet", description="Howard et al. 2019, MobileNetV3Small without in-model preprocessing",
    default_size=224, min_size=32, build=_keras_app("MobileNetV3Small", include_preprocessing=False),
    mean=IMAGENET_TF_MEAN, std=IMAGENET_TF_STD,
    weight_files=_fixed_file("weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"), weights_url=_KA + "mobilenet_v3/",
))
register(BackboneSpec(
    name="mobilenet_v3_large", params=5507432, weight_layers=64, family="MobileNet", description="Howard et al. 2019, MobileNetV3Large without in-model preprocessing",
    default_size=224, min_size=32, build=_keras_app("MobileNetV3Large", include_preprocessing=False),
    mean=IMAGENET_TF_MEAN, std=IMAGENET_TF_STD,
    weight_files=_fixed_file("weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5"), weights_url=_KA + "mobilenet_v3/",
))

_V1_V2 = (("mobilenet", 1.0), ("mobilenet_v2", 1.0))
register(BackboneSpec(
    name="mobilenet_v1_v2", params=7791848, weight_layers=80, family="MobileNet",
    description="MobileNet v1 1.0 and MobileNetV2 1.0 side by side, features concatenated (~870 M MACs at 224)",
    default_size=224, min_size=32, build=_build_fused(_V1_V2), mean=IMAGENET_TF_MEAN, std=IMAGENET_TF_STD,
    parts=_V1_V2,
))


def get_backbone(name: str) -> BackboneSpec:
    try:
        return BACKBONES[name]
    except KeyError as err:
        raise EdgetlError(f"unknown backbone '{name}'; choose one of: {', '.join(BACKBONES)}") from err


def build_base(spec: BackboneSpec, size: int, alpha: Optional[float], weights_path: Optional[str]):
    """The convolutional base (no top) on a fresh Input, flat, with ImageNet or file weights or random."""
    keras = _tf.keras()
    inp = keras.Input((size, size, 3), name="input")
    try:
        return spec.build(inp, alpha, weights_path, False, 1000)
    except (ValueError, OSError) as e:
        if weights_path:
            msg = str(e).splitlines()[0][:200]
            raise EdgetlError(
                f"weights file {weights_path} does not fit {spec.name}"
                f"{f' alpha {alpha}' if alpha else ''} ({msg}); pass that backbone's no-top weights or --weights none"
            ) from e
        raise


def build_imagenet_classifier(spec: BackboneSpec, size: int, alpha: Optional[float], classes: int = 1000):
    """The backbone's own classic classifier (its original top), random weights: what the comparison table counts."""
    keras = _tf.keras()
    inp = keras.Input((size, size, 3), name="input")
    return spec.build(inp, alpha, None, True, classes)


WEIGHT_LAYER_TYPES = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense")


def count_weight_layers(model) -> int:
    """Depth as the seed's table counts it: layers with learned weights (conv, depthwise conv, dense).

    Depthwise and pointwise convolutions count separately (MobileNet v1: 1 + 13 x 2 + 1 = 28),
    BatchNorm does not. ResNet50's projection shortcuts are counted too (49 + 4 + 1 = 54).
    """
    return sum(1 for layer in model.layers if type(layer).__name__ in WEIGHT_LAYER_TYPES)
