"""One definition per parameter: a dataclass field whose metadata says its type, range, choices and help.

From the stage config dataclasses (``edgetl.config.stages``) this module generates the Click options
(``click_options``), the recipe keys and their validation (``recipe_keys``, ``check_value``), and the
recipe reference (``recipes_markdown``). Adding a parameter = one ``param(...)`` field + its use + a test.
Ranges are checked, never silently changed: ``--input-size 0`` is refused, not turned into the default.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from edgetl.errors import EdgetlError

META = "edgetl"


@dataclass(frozen=True)
class Param:
    help: str
    min: Optional[float] = None  # inclusive unless min_open
    max: Optional[float] = None  # inclusive unless max_open
    min_open: bool = False
    max_open: bool = False
    choices: Optional[Callable | tuple] = None  # a tuple, or a function returning one (registries load lazily)
    flag: Optional[str] = None  # CLI flag, default --<name-with-dashes>
    recipe: Optional[str] = None  # recipe key, default the field name; "" = not a recipe key
    cli: bool = True  # a CLI option of its stage's command
    click_choice: bool = True  # Click lists the choices (False: free text, checked later with a better message)
    comma: bool = False  # a list field given as one comma-separated value (``--sizes 96,128``), not a repeated flag
    envvar: Optional[str] = None
    default_help: Optional[str] = None  # shown as [default: ...] when the default is None / computed
    recipe_default: Any = "<same>"  # the recipe key's default when it differs from the CLI's
    recipe_help: Optional[str] = None  # the recipe key's help when it differs from the CLI's
    name: str = ""  # filled in by ``params``
    type: Any = None  # filled in: int, float, str, bool
    is_list: bool = False  # filled in: list[...] annotation
    nullable: bool = False  # filled in: Optional[...] annotation
    default: Any = None  # filled in

    def valid_choices(self) -> Optional[tuple]:
        return tuple(self.choices()) if callable(self.choices) else self.choices

    @property
    def option(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def key(self) -> str:
        return self.name if self.recipe is None else self.recipe

    def range_text(self) -> str:
        lo = None if self.min is None else f"{'>' if self.min_open else '>='} {self.min:g}"
        hi = None if self.max is None else f"{'<' if self.max_open else '<='} {self.max:g}"
        if lo and hi:
            return f"{'(' if self.min_open else '['}{self.min:g}, {self.max:g}{')' if self.max_open else ']'}"
        return lo or hi or ""


def param(default, help: str, **kw) -> Any:
    """A config field: ``default`` (a list is copied per instance) + metadata for CLI, recipes and docs."""
    meta = {META: Param(help=help, **kw)}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def _unwrap(hint) -> tuple:
    """(base type, nullable, is_list) of an annotation such as Optional[int] or list[str]."""
    nullable, is_list = False, False
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        nullable, hint = True, args[0]
        origin = typing.get_origin(hint)
    if origin in (list, tuple):
        is_list, hint = True, typing.get_args(hint)[0]
    return hint, nullable, is_list


def params(cls) -> list:
    """The ``Param`` of every field of a config dataclass, with name, type and default filled in."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        p = f.metadata.get(META)
        if p is None:
            continue
        typ, nullable, is_list = _unwrap(hints[f.name])
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        out.append(dataclasses.replace(p, name=f.name, type=typ, nullable=nullable, is_list=is_list, default=default))
    return out


# ---- validation -------------------------------------------------------------------------------------

def check_value(p: Param, value, where: Optional[str] = None):
    """``value`` checked against ``p`` (type, range, choices); returns it (ints given for floats become floats).

    ``where`` names the parameter in the message (default: its CLI flag)."""
    name = where or p.option
    if value is None:
        if p.nullable:
            return None
        raise EdgetlError(f"{name} cannot be null ({p.help})")
    if p.is_list:
        items = value if isinstance(value, (list, tuple)) else [value]
        return [check_value(dataclasses.replace(p, is_list=False, nullable=False), v, name) for v in items]
    t = p.type
    if t is bool:
        if not isinstance(value, bool):
            raise EdgetlError(f"{name} must be true or false, got {value!r}")
    elif t is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise EdgetlError(f"{name} must be an integer, got {value!r}")
    elif t is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EdgetlError(f"{name} must be a number, got {value!r}")
        value = float(value)
    elif t is str:
        if isinstance(value, (dict, list, tuple)):
            raise EdgetlError(f"{name} must be a string, got {value!r}")
        value = str(value)
    if p.min is not None and (value <= p.min if p.min_open else value < p.min) or \
            p.max is not None and (value >= p.max if p.max_open else value > p.max):
        rng = p.range_text()
        raise EdgetlError(f"{name} must be {'in ' if rng[0] in '[(' else ''}{rng}, got {value!r}")
    choices = p.valid_choices()
    if choices and value not in choices:
        raise EdgetlError(f"{name}: unknown value {value!r}; choose one of: {', '.join(map(str, choices))}")
    return value


def check(cfg) -> Any:
    """Every field of a config instance checked in place (one line naming the flag on the first problem)."""
    for p in params(type(cfg)):
        setattr(cfg, p.name, check_value(p, getattr(cfg, p.name)))
    return cfg


# ---- Click --------------------------------------------------------------------------------------------

def _help(p: Param) -> str:
    text = p.help
    rng = p.range_text()
    if rng and not p.valid_choices():
        text += f" Range: {rng}."
    if p.default_help:
        text += f" [default: {p.default_help}]"
    return text


def click_options(cls, *, only: Optional[tuple] = None, skip: tuple = (), defaults: Optional[dict] = None):
    """A decorator adding one Click option per CLI parameter of ``cls`` (``only`` / ``skip`` by field name).

    The option's parameter name is the field name; ``defaults`` overrides a default (e.g. None = "keep the
    recipe's value" for `edgetl run`)."""
    import click

    chosen = [p for p in params(cls) if p.cli and (only is None or p.name in only) and p.name not in skip]
    if only is not None:
        chosen.sort(key=lambda p: only.index(p.name))

    def deco(fn):
        for p in reversed(chosen):
            default = (defaults or {}).get(p.name, p.default)
            kw = dict(default=default, help=_help(p))
            if p.envvar:
                kw["envvar"] = p.envvar
            if p.is_list and p.comma:  # one comma-separated value (``--sizes 96,128``)
                kw.update(default=",".join(str(v) for v in default) if default else None,
                          callback=_comma_list(p), show_default=bool(default) and p.default_help is None)
                fn = click.option(p.option, p.name, type=str, **kw)(fn)
                continue
            if p.is_list:  # a repeatable flag (``--min-agreement int8=0.9 --min-agreement qat=0.8``)
                kw.update(multiple=True, default=tuple(default or ()))
            if p.type is bool:
                opt = click.option(f"{p.option}/--no-{p.option[2:]}", p.name, show_default=default is not None, **kw)
            else:
                choices = p.valid_choices() if p.click_choice else None
                typ = click.Choice(choices) if choices else {int: int, float: float}.get(p.type, str)
                kw["show_default"] = default is not None and p.default_help is None
                opt = click.option(p.option, p.name, type=typ, **kw)
            fn = opt(fn)
        return fn

    return deco


def _comma_list(p: Param):
    """Click callback: "96,128" -> [96, 128] in the field's type (checked against ``p`` later, by ``check``)."""
    import click

    def parse(ctx, param, value):
        if value is None or not str(value).strip():
            return []
        try:
            return [p.type(v.strip()) for v in str(value).split(",") if v.strip()]
        except ValueError as e:
            raise click.BadParameter(f"comma-separated {p.type.__name__} values, got {value!r}") from e

    return parse


def config_values(options: dict) -> dict:
    """Click's values of generated options as config field values (a repeatable flag's tuple becomes a list)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}


# ---- recipes ------------------------------------------------------------------------------------------

def recipe_default(p: Param):
    return p.default if p.recipe_default == "<same>" else p.recipe_default


def from_recipe(cls, recipe: dict, **extra):
    """An instance of config ``cls`` from a validated recipe (its recipe keys) plus ``extra`` fields."""
    return cls(**{p.name: recipe[p.key] for p in params(cls) if p.key}, **extra)


def recipe_keys(cls) -> tuple:
    """The recipe keys of config ``cls`` (a stage's fingerprint)."""
    return tuple(p.key for p in params(cls) if p.key)


# ---- docs ------------------------------------------------------------------------------------------------

def describe(p: Param) -> dict:
    """One row of the recipe reference."""
    choices = p.valid_choices()
    typ = {int: "integer", float: "number", str: "string", bool: "true/false"}.get(p.type, str(p.type))
    default = recipe_default(p)
    return {"key": p.key, "type": ("list of " if p.is_list else "") + typ + (" or null" if p.nullable else ""),
            "default": p.default_help if p.default_help and default is None else ("null" if default is None else default),
            "valid": ", ".join(map(str, choices)) if choices else p.range_text(), "flag": p.option if p.cli else "",
            "help": p.recipe_help or p.help}
