"""edgetl: transfer learning to on-device image classifiers, with the numbers to prove it.

TensorFlow is imported lazily (and always with TF_USE_LEGACY_KERAS=1, see ``edgetl._tf``), so
``import edgetl`` and ``edgetl --help`` are fast.
"""
from edgetl import _tf as _tf  # noqa: F401  sets TF_USE_LEGACY_KERAS before anything imports TensorFlow
from edgetl.formats.contract import Contract
from edgetl.errors import EdgetlError
from edgetl._version import __version__
from edgetl.runtime.runners import open_artifact

__all__ = ["Contract", "EdgetlError", "open_artifact", "__version__"]
