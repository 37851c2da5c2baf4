"""Import TensorFlow with Keras 2 (tf_keras), the only Keras TFMOT works with.

TF_USE_LEGACY_KERAS must be set before TensorFlow is first imported, so every module
that needs TensorFlow imports it from here, lazily, never at package import time.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def tf():
    import tensorflow

    return tensorflow


def keras():
    import tf_keras

    return tf_keras


def set_seed(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    tf().random.set_seed(seed)
    keras().utils.set_random_seed(seed)
