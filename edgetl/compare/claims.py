"""The classic table's claims about each backbone, and where a measurement disagrees with them.

The classic table is the seed's (the brief edgetl started from: ``SEED_TABLE``) as it states it, with
no source of its own: depth and parameters of the original ImageNet classifiers (1000 classes, width
1.0, 224 px; AlexNet 227) of AlexNet, VGG, ResNet and MobileNet v1.

Depth is counted as the seed counts it: layers with learned weights (Conv2D, DepthwiseConv2D,
SeparableConv2D, Dense; ``backbones.count_weight_layers``). BatchNorm, pooling and activations do
not count; depthwise and pointwise convolutions count separately (MobileNet v1 = 28), ResNet50's
projection shortcuts count (54). A row is flagged when the measured depth is outside the seed's
range ("8" exact, "16-19" a range, "50+" a minimum) or the parameters differ from the seed's by
more than ``PARAM_TOLERANCE``.
"""
from __future__ import annotations

import re

from edgetl.backbones.registry import CLASSIC_ALPHA, CLASSIC_SOURCE  # noqa: F401  (the classic table's)

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
        flags.append(f"depth {depth} vs classic {claim.depth}")
    rel = params / (claim.params_m * 1e6) - 1
    if abs(rel) > PARAM_TOLERANCE and (alpha is None or float(alpha) == 1.0):
        flags.append(f"params {params / 1e6:.2f} M vs classic {claim.params_text} ({100 * rel:+.0f}%)")
    return flags


def params_compared(alpha, classes: int = 1000) -> bool:
    """Whether a measured row's parameters are held to the classic row's (width 1.0, 1000 classes)."""
    return classes == 1000 and (alpha is None or float(alpha) == CLASSIC_ALPHA)


def claim_note(row: dict) -> str:
    """A measured row against its classic row, in words: "agrees", its disagreements, what was not compared."""
    flags = list(row.get("flags") or [])
    words = "; ".join(flags) if flags else "agrees"
    if not row.get("params_compared", True):
        alpha = row.get("alpha")
        words += (f"; params not compared at alpha {alpha:g}" if alpha is not None and float(alpha) != CLASSIC_ALPHA
                  else "; params not compared")
    if row.get("errors"):
        words += " | failed: " + "; ".join(row["errors"])
    return words


def seed_row(backbone: str) -> dict:
    """The classic (seed's) table row of ``backbone``'s family, as the seed states it; alpha and input size are
    those of the classic network the row describes."""
    from edgetl.backbones.registry import get_backbone

    spec = get_backbone(backbone)
    claim = spec.seed
    return {"backbone": backbone, "family": claim.family, "depth": claim.depth, "params": claim.params_text,
            "key_advantage": claim.key_advantage, "use_case": claim.use_case, "describes": claim.describes,
            "alpha": CLASSIC_ALPHA if spec.alphas else None, "input_size": claim.size}
