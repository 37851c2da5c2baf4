"""Recipes: one YAML file per model edgetl knows how to make, validated before anything runs.

Every key has a type, a default and (where it makes sense) its valid choices; the CLI can override
any of them. An unknown key or a bad value is one line naming the key and what is valid.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from edgetl.config.params import Param, check_value, describe, recipe_default
from edgetl.config.stages import recipe_params
from edgetl.errors import EdgetlError


@dataclass(frozen=True)
class Key:
    type: Any  # python type, or tuple of types
    default: Any
    help: str
    choices: Optional[tuple] = None  # for str values, or for list items
    is_list: bool = False
    nullable: bool = False
    param: Optional[Param] = None  # the stage config parameter behind the key (edgetl.config.stages)


def _key(p: Param) -> Key:
    return Key(p.type, recipe_default(p), p.recipe_help or p.help, None if callable(p.choices) else p.choices,
               p.is_list, p.nullable, p)


# The recipe's own keys, then one key per recipe parameter of the stage configs (edgetl.config.stages).
SCHEMA: dict[str, Key] = {
    "name": Key(str, "run", "a name for the run (also the default --out: runs/NAME)"),
    "description": Key(str, "", "what this recipe makes"),
    "data_help": Key(str, "", "where to get the data (shown when it is missing)"),
    **{p.key: _key(p) for p in recipe_params()},
}


def _check_value(key: str, spec: Key, value):
    if spec.param is not None:
        return check_value(spec.param, value, where=f"recipe key '{key}' (--{key.replace('_', '-')})")
    if value is None:
        raise EdgetlError(f"recipe key '{key}' cannot be null ({spec.help})")
    if isinstance(value, (dict, list)):
        raise EdgetlError(f"recipe key '{key}' must be a string, got {value!r}")
    return str(value)


def recipes_markdown() -> str:
    """docs/recipes.md: every recipe key with its type, default, valid values and `edgetl run` option."""
    from edgetl.report.tables import markdown_table

    rows = [{"key": k, "type": "string", "default": repr(spec.default), "valid": "", "option": "", "help": spec.help}
            for k, spec in SCHEMA.items() if spec.param is None]
    for k, spec in SCHEMA.items():
        if spec.param is not None:
            d = describe(spec.param)
            rows.append({**d, "default": f"`{d['default']}`", "option": f"`--{k.replace('_', '-')}`"})
    cols = [("key", "key"), ("type", "type"), ("default", "default"), ("valid", "valid"),
            ("option", "`edgetl run` option"), ("help", "what it does")]
    return ("# Recipe keys\n\n"
            "Generated from the stage configs (`edgetl/config/stages.py`) by "
            "`python -m edgetl.pipeline.recipes --docs > docs/recipes.md`; do not edit by hand.\n"
            "A recipe is a YAML mapping of these keys (see `models/*.yaml`); every key except name, description "
            "and data_help is also an `edgetl run` option (lists comma-separated). Values outside their range are "
            "refused, never silently changed.\n\n" + markdown_table(cols, rows) + "\n")


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
    from edgetl.formats.registry import parse_agreement

    try:
        parse_agreement(out["min_agreement"])
    except EdgetlError as e:
        raise EdgetlError(f"recipe key 'min_agreement': {e}") from e
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
    if raw is None or raw == {}:  # an empty file would silently run every default: surely not what was meant
        raise EdgetlError(f"recipe {p} is empty; give at least its data (e.g. `data: photos/`), or run without a "
                          "recipe for the built-in default")
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


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--docs"]:
        sys.exit("usage: python -m edgetl.pipeline.recipes --docs > docs/recipes.md")
    sys.stdout.write(recipes_markdown())
