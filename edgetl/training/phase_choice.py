"""The phase choice: keep fine-tuning's weights only when a paired test on the per-image validation losses says
they are lower than phase 1's; otherwise restore phase 1's (docs/accuracy.md)."""
from __future__ import annotations

from typing import Optional

import numpy as np

from edgetl.config.stages import TrainConfig
from edgetl.data.sources import Splits
from edgetl.formats.contract import Contract
from edgetl.metrics import per_image_loss
from edgetl.training.model import TransferModel, predict_split
from edgetl.training.phases import fine_tune


def val_losses(tm: TransferModel, splits: Splits, contract: Contract) -> Optional[np.ndarray]:
    """Each validation image's cross-entropy under the whole model (mean = the split's loss), None without a split."""
    if not len(splits.val):
        return None
    return per_image_loss(*predict_split(tm.model, splits, "val", contract))


PHASE2_ALPHA = 0.05  # phase 2 replaces phase 1 only when a one-sided paired test gives p below this


def choose_phase(losses_phase1: Optional[np.ndarray], losses_phase2: Optional[np.ndarray],
                 alpha: float = PHASE2_ALPHA) -> dict:
    """Keep fine-tuning's weights only when the evidence says they lowered the validation loss.

    The two phases are scored on the same validation images, so the test is paired: a one-sided
    t-test on the per-image loss differences. A small validation split whose mean loss dips by
    chance (plantvillage_apple: 0.168 -> 0.128 on 48 images, and three test images lost) keeps
    phase 1, the untouched base; so do a tie and a diverged phase 2.
    """
    if losses_phase1 is None or losses_phase2 is None:
        return {"kept": "phase2", "val_loss": {"phase1": None, "phase2": None},
                "reason": "no validation split to compare the phases on"}
    l1, l2 = np.asarray(losses_phase1, np.float64), np.asarray(losses_phase2, np.float64)
    losses = {"phase1": float(l1.mean()), "phase2": float(l2.mean())}
    change = f"validation loss {losses['phase1']:.4f} -> {losses['phase2']:.4f} on {len(l1)} images"
    if not np.all(np.isfinite(l2)) or losses["phase2"] >= losses["phase1"]:
        return {"kept": "phase1", "val_loss": losses, "p_value": None,
                "reason": f"fine-tuning did not lower the {change}; phase 1's weights restored"}
    p = _paired_p_lower(l1, l2)
    if p >= alpha:
        return {"kept": "phase1", "val_loss": losses, "p_value": p,
                "reason": f"fine-tuning lowered the {change}, but not clearly (paired t-test p = {p:.3g} >= "
                          f"{alpha}); phase 1's weights restored"}
    return {"kept": "phase2", "val_loss": losses, "p_value": p,
            "reason": f"fine-tuning lowered the {change} (paired t-test p = {p:.3g} < {alpha})"}


def _paired_p_lower(l1: np.ndarray, l2: np.ndarray) -> float:
    """One-sided p-value of "phase 2's per-image loss is lower" (paired t-test); 0 when every image improved alike."""
    from scipy.stats import ttest_rel

    d = l1 - l2
    if np.allclose(d, d[0]):  # no spread: the t statistic is undefined; a uniform gain is as clear as it gets
        return 0.0 if d[0] > 0 else 1.0
    return float(ttest_rel(l1, l2, alternative="greater").pvalue)


def fine_tune_if_better(tm: TransferModel, splits: Splits, contract: Contract, cfg: TrainConfig,
                        progress=None) -> tuple[dict, dict]:
    """Phase 2, then keep phase 1 unless phase 2 clearly lowered the validation loss: (phase-2 history, selection)."""
    before = val_losses(tm, splits, contract)
    phase1_weights = tm.model.get_weights()
    h2 = fine_tune(tm, splits, contract, cfg, progress)
    selection = choose_phase(before, val_losses(tm, splits, contract))
    if selection["kept"] == "phase1":
        tm.model.set_weights(phase1_weights)
        tm.freeze_base(True)
    return h2, selection
