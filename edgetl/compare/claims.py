"""The seed's claims about each backbone, and where a measurement disagrees with them.

Depth is counted as the seed counts it: layers with learned weights (Conv2D, DepthwiseConv2D,
SeparableConv2D, Dense; ``backbones.count_weight_layers``). BatchNorm, pooling and activations do
not count; depthwise and pointwise convolutions count separately (MobileNet v1 = 28), ResNet50's
projection shortcuts count (54). A row is flagged when the measured depth is outside the seed's
range ("8" exact, "16-19" a range, "50+" a minimum) or the parameters differ from the seed's by
more than ``PARAM_TOLERANCE``.
"""
from __future__ import annotations

import re

PARAM_TOLERANCE = 0.10
DEPTH_COUNTING = "layers with weights: Conv2D, DepthwiseConv2D, SeparableConv2D, Dense"


def seed_depth_range(text: str) -> tuple:
    """'8' -> (8, 8), '16-19' -> (16, 19), '50+' -> (50, inf)."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)|(\+))?\s*", text)
    if not m:
        raise ValueError(f"unreadable seed depth {text!r}")
    lo = int(m.group(1))
    hi = float("inf") if m.group(3) else int(m.group(2) or lo)
    return lo, hi


def claim_flags(claim, depth: int, params: int, alpha=None) -> list:
    """Where the seed's claim and the measurement disagree, in words. The seed's rows describe the classic
    networks (width 1.0): a thinner or wider one (``alpha`` other than 1.0) is not held to the parameter count."""
    flags = []
    lo, hi = seed_depth_range(claim.depth)
    if not lo <= depth <= hi:
        flags.append(f"depth {depth} vs seed {claim.depth}")
    rel = params / (claim.params_m * 1e6) - 1
    if abs(rel) > PARAM_TOLERANCE and (alpha is None or float(alpha) == 1.0):
        flags.append(f"params {params / 1e6:.2f} M vs seed {claim.params_text} ({100 * rel:+.0f}%)")
    return flags


def seed_row(backbone: str) -> dict:
    """The seed's table row of ``backbone``'s family, as the seed states it."""
    from edgetl.backbones.registry import get_backbone

    claim = get_backbone(backbone).seed
    return {"backbone": backbone, "family": claim.family, "depth": claim.depth, "params": claim.params_text,
            "key_advantage": claim.key_advantage, "use_case": claim.use_case}
