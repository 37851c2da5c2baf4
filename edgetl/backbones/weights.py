"""Where a backbone's starting weights come from: ``--weights auto|imagenet|none|FILE``.

``imagenet`` looks in the weights dir (``--weights-dir`` or ``EDGETL_WEIGHTS_DIR``) for the file
name keras.applications uses, then in the Keras cache (~/.keras/models), then downloads it.
``auto`` does the same but falls back to random initialisation, loudly, when nothing works.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from edgetl.backbones.registry import BackboneSpec, get_backbone
from edgetl.errors import EdgetlError

WEIGHTS_DIR_ENV = "EDGETL_WEIGHTS_DIR"
WEIGHT_CHOICES = ("auto", "imagenet", "none")


@dataclass
class ResolvedWeights:
    path: Optional[str]  # None: random initialisation
    source: str  # human- and machine-readable: "imagenet:<file>", "file:<file>", "random"
    warning: Optional[str] = None

    @property
    def pretrained(self) -> bool:
        return self.path is not None


def keras_cache_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def resolve_weights(spec: BackboneSpec, alpha, size: int, weights: str = "auto",
                    weights_dir: Optional[str] = None, download: bool = True) -> ResolvedWeights:
    weights = str(weights or "auto")
    if weights == "none":
        return ResolvedWeights(None, "random")
    if weights not in ("auto", "imagenet"):
        f = Path(weights).expanduser()
        if not f.is_file():
            raise EdgetlError(f"--weights {weights}: no such file; pass auto, imagenet, none or an existing .h5 weights file")
        return ResolvedWeights(str(f), f"file:{f}")
    try:
        if spec.parts:  # a fused backbone: each branch's own ImageNet file, joined by os.pathsep
            paths = [find_imagenet_weights(get_backbone(name), a, size, weights_dir, download) for name, a in spec.parts]
            return ResolvedWeights(os.pathsep.join(paths), "imagenet:" + "+".join(paths))
        path = find_imagenet_weights(spec, alpha, size, weights_dir, download)
        return ResolvedWeights(path, f"imagenet:{path}")
    except EdgetlError as e:
        if weights == "imagenet":
            raise
        return ResolvedWeights(None, "random", f"no ImageNet weights for {spec.name}: {e} -> RANDOM initialisation, "
                                               "the whole network is trained from scratch")


def find_imagenet_weights(spec: BackboneSpec, alpha, size: int, weights_dir: Optional[str] = None,
                          download: bool = True) -> str:
    if spec.weight_files is None:
        raise EdgetlError(f"{spec.name} has no public ImageNet weights for Keras; pass --weights FILE (an .h5 of this "
                          "architecture) or --weights none")
    if spec.alphas and alpha not in _imagenet_alphas(spec):
        raise EdgetlError(f"no ImageNet weights exist for {spec.name} alpha {alpha}; use alpha in {_imagenet_alphas(spec)} "
                          "or --weights none")
    names = spec.weight_files(alpha, size)
    dirs = [Path(d).expanduser() for d in (weights_dir, os.environ.get(WEIGHTS_DIR_ENV)) if d] + [keras_cache_dir()]
    for d in dirs:
        for n in names:
            if (d / n).is_file():
                return str(d / n)
    if not download:
        raise EdgetlError(f"{names[0]} not found in {', '.join(map(str, dirs))}")
    return _download(spec, names[0], dirs)


def _imagenet_alphas(spec: BackboneSpec):
    return {"mobilenet": (0.25, 0.5, 0.75, 1.0), "mobilenet_v2": (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)}.get(spec.name, spec.alphas)


def _download(spec: BackboneSpec, name: str, searched) -> str:
    """keras' own download (into ~/.keras/models), as keras.applications does for weights='imagenet'."""
    import contextlib
    import socket
    import sys

    from edgetl import _tf

    url = spec.weights_url + name
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)
    try:
        # Keras prints "Downloading data from ..." and its progress bar on stdout: progress belongs on stderr.
        with contextlib.redirect_stdout(sys.stderr):
            return _tf.keras().utils.get_file(name, url, cache_subdir="models")
    except Exception as e:  # network errors come as many types
        raise EdgetlError(download_failure(name, url, e, searched)) from e
    finally:
        socket.setdefaulttimeout(old)


def download_failure(name: str, url: str, err: BaseException, searched) -> str:
    """What a failed weight download says: the URL whole, the reason, the file wanted and where to put it."""
    reason = _reason(err)
    return (f"could not download {url} ({reason}); put {name} in a folder passed as --weights-dir DIR or "
            f"${WEIGHTS_DIR_ENV} (searched: {', '.join(map(str, searched))}), or use --weights none")


def _reason(err: BaseException) -> str:
    """The innermost cause of a download error in one line (Keras wraps urllib's error in a bare Exception)."""
    import urllib.error

    chain = [err]
    while len(chain) < 10 and (chain[-1].__cause__ or chain[-1].__context__) is not None:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)
    inner = chain[-1]
    if isinstance(inner, urllib.error.HTTPError):
        return f"HTTP {inner.code} {inner.reason}"
    reason = getattr(inner, "reason", None)
    text = " ".join(str(reason if reason is not None else inner).split()) or type(inner).__name__
    return text if len(text) <= 200 else text[:197] + "..."
