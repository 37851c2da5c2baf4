"""edgetl: transfer learning to on-device image classifiers, with the numbers to prove it.

TensorFlow is imported lazily (and always with TF_USE_LEGACY_KERAS=1, see ``edgetl._tf``), so
``import edgetl`` and ``edgetl --help`` are fast.
"""
from edgetl import _tf as _tf  # noqa: F401  sets TF_USE_LEGACY_KERAS before anything imports TensorFlow
from edgetl.formats.contract import Contract
from edgetl.errors import EdgetlError
from edgetl._version import __version__
from edgetl.runtime.registry import open_artifact


def search(cfg, **kw) -> dict:
    """`edgetl search` as a function: ``edgetl.search(edgetl.SearchConfig(data=..., budget_ms=5))`` (docs/search.md)."""
    from edgetl.choose.run import search as _search

    return _search(cfg, **kw)


def __getattr__(name):
    if name == "SearchConfig":  # the typed config, defined once with the other stage configs
        from edgetl.config.stages import SearchConfig

        return SearchConfig
    raise AttributeError(name)


__all__ = ["Contract", "EdgetlError", "SearchConfig", "open_artifact", "search", "__version__"]
