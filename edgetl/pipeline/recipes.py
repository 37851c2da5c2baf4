"""Recipes: one YAML file per model edgetl knows how to make, validated before anything runs.

Every key has a type, a default and (where it makes sense) its valid choices; the CLI can override
any of them. An unknown key or a bad value is one line naming the key and what is valid.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from edgetl.errors import EdgetlError
from edgetl.stages.train import TrainConfig

_T = TrainConfig()  # training defaults live in TrainConfig only

from edgetl.formats.registry import CONVERT_TARGETS, DEFAULT_IO, DEFAULT_MODES, IO_TYPES, MODES


@dataclass(frozen=True)
class Key:
    type: Any  # python type, or tuple of types
    default: Any
    help: str
    choices: Optional[tuple] = None  # for str values, or for list items
    is_list: bool = False
    nullable: bool = False


def _backbone_names():
    from edgetl.backbones.registry import BACKBONES

    return tuple(BACKBONES)


SCHEMA: dict[str, Key] = {
    "name": Key(str, "run", "a name for the run (also the default --out: runs/NAME)"),
    "description": Key(str, "", "what this recipe makes"),
    # data
    "data": Key(str, "digits", "folder with one sub-folder per class, 'digits', or tfds:NAME[:split]"),
    "data_help": Key(str, "", "where to get the data (shown when it is missing)"),
    "val_ratio": Key(float, _T.val_ratio, "validation share of each class"),
    "test_ratio": Key(float, _T.test_ratio, "test share of each class"),
    "labels_csv": Key(str, None, "Kaggle-style id,label CSV naming the images of the flat `data` folder",
                      nullable=True),
    "limit_images": Key(int, None, "at most N images per class", nullable=True),
    # train
    "backbone": Key(str, "mobilenet_v2", "backbone (edgetl backbones)", choices=None),
    "alpha": Key(float, None, "width multiplier (mobilenet, mobilenet_v2)", nullable=True),
    "input_size": Key(int, None, "square input size in px", nullable=True),
    "weights": Key(str, "auto", "auto | imagenet | none | a .h5 FILE"),
    "weights_dir": Key(str, None, "folder with keras.applications weight files", nullable=True),
    "epochs": Key(int, _T.epochs, "phase 1 epochs"),
    "fine_tune_epochs": Key(int, _T.fine_tune_epochs, "phase 2 epochs"),
    "unfreeze": Key(int, _T.unfreeze, "top layers of the base unfrozen in phase 2"),
    "lr": Key(float, _T.lr, "phase 1 learning rate"),
    "fine_tune_lr": Key(float, None, "phase 2 learning rate (default lr/10)", nullable=True),
    "batch_size": Key(int, _T.batch_size, "batch size"),
    "augment": Key(bool, _T.augment, "random flip/rotation/zoom/contrast"),
    "dropout": Key(float, _T.dropout, "dropout before the new dense layer"),
    "patience": Key(int, _T.patience, "early-stopping patience (epochs)"),
    "class_weights": Key(str, "none", "balanced class weights", choices=("none", "auto")),
    "positive_class": Key(str, None, "two classes: the class of interest (default: the second, sorted)", nullable=True),
    "target_recall": Key(float, None, "two classes: decision threshold chosen on val to reach this recall",
                         nullable=True),
    "seed": Key(int, _T.seed, "random seed"),
    # prune / quantize / convert
    "prune_sparsity": Key(float, None, "TFMOT low-magnitude pruning target (0-1); null: no pruning", nullable=True),
    "prune_epochs": Key(int, 1, "fine-tuning epochs while pruning"),
    "quantize": Key(str, list(DEFAULT_MODES), "TFLite modes", choices=MODES, is_list=True),
    "io": Key(str, DEFAULT_IO, "int8/qat input/output type", choices=IO_TYPES),
    "calibration_images": Key(int, 200, "representative images for int8"),
    "qat_epochs": Key(int, 1, "quantization-aware training epochs"),
    "min_agreement": Key(str, [], "parity-gate overrides: 0.97 (all) or MODE=0.9 (e.g. int8=0.9, onnx:int8=0.9)",
                         is_list=True),
    "convert": Key(str, ["onnx"], "extra formats", choices=CONVERT_TARGETS, is_list=True),
    "opset": Key(int, 17, "ONNX opset"),
    # benchmark / compare / android
    "threads": Key(int, [1], "benchmark thread counts", is_list=True),
    "runs": Key(int, 50, "timed runs per artifact"),
    "min_seconds": Key(float, 1.0, "minimum timed seconds per artifact"),
    "warmup": Key(int, 5, "warm-up runs"),
    "bench_rounds": Key(int, 3, "interleaved benchmark rounds (each artifact measured once per round)"),
    "budget_ms": Key(float, 33.0, "frame budget (33 ms = 30 FPS)"),
    "compare_backbones": Key(str, [], "backbones for the comparison table (empty: the run's own)", is_list=True),
    "compare_input_size": Key(int, None, "input size for the comparison (default: the run's)", nullable=True),
    "android": Key(bool, False, "export the int8 model to android_demo's assets at the end"),
    "android_artifact": Key(str, "int8", "which artifact to export to Android"),
}


def _check_value(key: str, spec: Key, value):
    if value is None:
        if spec.nullable or spec.default is None:
            return None
        raise EdgetlError(f"recipe key '{key}' cannot be null ({spec.help})")
    if spec.is_list:
        if not isinstance(value, (list, tuple)):
            value = [value]
        return [_check_scalar(key, spec, v) for v in value]
    return _check_scalar(key, spec, value)


def _check_scalar(key: str, spec: Key, value):
    t = spec.type
    if t is bool:
        if not isinstance(value, bool):
            raise EdgetlError(f"recipe key '{key}' must be true or false, got {value!r}")
    elif t is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise EdgetlError(f"recipe key '{key}' must be an integer, got {value!r}")
    elif t is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EdgetlError(f"recipe key '{key}' must be a number, got {value!r}")
        value = float(value)
    elif t is str:
        if isinstance(value, (dict, list)):
            raise EdgetlError(f"recipe key '{key}' must be a string, got {value!r}")
        value = str(value)
    choices = spec.choices if key != "backbone" else _backbone_names()
    if key == "compare_backbones":
        choices = _backbone_names()
    if choices and value not in choices:
        raise EdgetlError(f"recipe key '{key}' has bad value {value!r}; valid: {', '.join(map(str, choices))}")
    return value


def validate(raw: dict, source: str = "recipe") -> dict:
    """Defaults filled in, every value checked; raises a one-line EdgetlError on the first problem."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise EdgetlError(f"{source} must be a YAML mapping of keys to values")
    unknown = [k for k in raw if k not in SCHEMA]
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], SCHEMA, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise EdgetlError(f"{source}: unknown key '{unknown[0]}'{hint}; valid keys: {', '.join(SCHEMA)}")
    out = {}
    for key, spec in SCHEMA.items():
        out[key] = _check_value(key, spec, raw.get(key, spec.default))
    from edgetl.backbones.registry import get_backbone

    bb = get_backbone(out["backbone"])
    try:
        bb.check_alpha(out["alpha"])
        bb.check_size(out["input_size"])
    except EdgetlError as e:
        raise EdgetlError(f"{source}: {e}") from e
    if out["prune_sparsity"] is not None and not 0 < out["prune_sparsity"] < 1:
        raise EdgetlError(f"recipe key 'prune_sparsity' must be in (0, 1), got {out['prune_sparsity']}")
    from edgetl.formats.registry import parse_agreement

    try:
        parse_agreement(out["min_agreement"])
    except EdgetlError as e:
        raise EdgetlError(f"recipe key 'min_agreement': {e}") from e
    if any(t < 1 for t in out["threads"]):
        raise EdgetlError("recipe key 'threads' must list positive integers")
    return out


def load_recipe(path: Optional[str | Path]) -> tuple[dict, str]:
    """(validated recipe, its source name). No path: the built-in offline default."""
    if path is None:
        path = default_recipe_path()
    p = Path(path)
    if not p.is_file():
        bundled = recipes_dir() / (p.name if p.suffix else p.name + ".yaml")
        if bundled.is_file():
            p = bundled
        else:
            raise EdgetlError(f"recipe {path} not found; pass a YAML file or one of: "
                              f"{', '.join(x.stem for x in sorted(recipes_dir().glob('*.yaml')))}")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise EdgetlError(f"{p} is not valid YAML ({str(e).splitlines()[0]})") from e
    return validate(raw, source=p.name), str(p)


def recipes_dir() -> Path:
    """The bundled recipes: edgetl/recipes, a link to models/ in a source checkout and a real folder in a wheel."""
    return Path(__file__).resolve().parents[1] / "recipes"


def list_recipes() -> list[dict]:
    """Every bundled recipe: name, description and data source, validated as `edgetl run` would."""
    out = []
    for path in sorted(recipes_dir().glob("*.yaml")):
        recipe, _ = load_recipe(path)
        out.append({"name": path.stem, "description": recipe.get("description", ""), "data": recipe.get("data"),
                    "backbone": recipe.get("backbone"), "path": str(path)})
    return out


def default_recipe_path() -> Path:
    return recipes_dir() / "digits_mobilenet_v2.yaml"
