"""The candidate grid: backbone x width x input size, read from the backbone registry (never a second list),
kept when the backbone's ImageNet weights are on this machine or can be downloaded."""
from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Optional

from edgetl.backbones.registry import BACKBONES, BackboneSpec
from edgetl.backbones.weights import _imagenet_alphas, resolve_weights
from edgetl.errors import EdgetlError

PRECISIONS = ("float32", "int8")  # every candidate is built in float32 and the default int8


@dataclass(frozen=True)
class Candidate:
    backbone: str
    alpha: Optional[float]
    size: int
    weights: Optional[str]  # local weight file(s), None: to download

    @property
    def id(self) -> str:
        return f"{self.backbone}{'' if self.alpha is None else f'_a{self.alpha:g}'}_{self.size}"

    def label(self) -> str:
        return f"{self.backbone}{'' if self.alpha is None else f' a={self.alpha:g}'} {self.size}px"


def has_imagenet(spec: BackboneSpec) -> bool:
    if spec.parts:
        return all(BACKBONES[n].weight_files is not None for n, _ in spec.parts)
    return spec.weight_files is not None


def widths(spec: BackboneSpec, alphas: list) -> list:
    if not spec.alphas:
        return [None]
    valid = [a for a in spec.alphas if a in _imagenet_alphas(spec)]
    return [a for a in valid if float(a) in alphas] if alphas else valid


def grid(backbones: list, alphas: list, sizes: list) -> list:
    """(spec, alpha, size) for every registry backbone with ImageNet weights, narrowed by the three lists."""
    names = list(backbones) or list(BACKBONES)
    out = []
    for name in names:
        spec = BACKBONES[name]
        if not has_imagenet(spec):
            if backbones:
                raise EdgetlError(f"--backbones {name}: it has no public ImageNet weights, so frozen features mean "
                                  "nothing; drop it (see `edgetl backbones`)")
            continue
        for a in widths(spec, [float(x) for x in alphas]):
            out += [(spec, a, int(s)) for s in sizes if int(s) >= spec.min_size]
    if not out:
        raise EdgetlError("--backbones/--alphas/--sizes leave no candidate; widen them (see `edgetl backbones`)")
    return out


def online(host: str = "storage.googleapis.com", timeout: float = 3.0) -> bool:
    """Can keras' weight files be downloaded from here? (one TCP connection, a few seconds at most)"""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def available(backbones: list, alphas: list, sizes: list, weights_dir: Optional[str], download: bool,
              is_online=online) -> tuple[list, list]:
    """(candidates, [(id, reason) skipped]). A candidate without local weights stays when it can be downloaded and
    its backbone was named in ``backbones``: the default grid is what is on this machine, so that a first search
    does not fetch hundreds of MB of VGG and ResNet weights that no phone budget would pick."""
    keep, skipped = [], []
    net = None
    download = download and bool(backbones)
    for spec, alpha, size in grid(backbones, alphas, sizes):
        try:
            w = resolve_weights(spec, alpha, size, "imagenet", weights_dir, download=False)
            keep.append(Candidate(spec.name, alpha, size, w.path))
            continue
        except EdgetlError as e:
            reason = str(e)
        if download and net is None:
            net = is_online()
        if download and net:
            keep.append(Candidate(spec.name, alpha, size, None))
        else:
            skipped.append((Candidate(spec.name, alpha, size, None).id, reason))
    if not keep:
        where = weights_dir or "EDGETL_WEIGHTS_DIR / ~/.keras/models"
        raise EdgetlError(f"no ImageNet weights for any candidate in {where}{'' if not download else ' and offline'}; "
                          "pass --weights-dir DIR holding keras.applications' *_no_top.h5 files, or name "
                          "--backbones to download (online)")
    return keep, skipped
