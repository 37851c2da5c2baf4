"""Typed stage configs (edgetl.config): one definition per parameter -> Click options, recipe keys, docs."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import click
import pytest
from click.testing import CliRunner

from edgetl.config.params import check, click_options, from_recipe, param, params, recipe_default
from edgetl.config.stages import STAGE_CONFIGS, TrainConfig, recipe_params
from edgetl.errors import EdgetlError

DOCS = Path(__file__).resolve().parents[1] / "docs" / "recipes.md"


def run_cli(*args):
    from edgetl.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def _options(cmd) -> dict:
    return {p.name: p for p in cmd.params if isinstance(p, click.Option)}


def test_train_options_are_generated_from_the_config():
    from edgetl.cli.train import train_cmd

    opts = _options(train_cmd)
    for p in params(TrainConfig):
        o = opts[p.name]
        assert p.option in o.opts and o.default == p.default, p.name
        assert p.help.split(".")[0] in o.help
    assert "--limit-images" in opts["limit_per_class"].opts and "Range: >= 1" in opts["limit_per_class"].help
    assert opts["label_smoothing"].default == 0.0 and tuple(opts["class_weights"].type.choices) == ("none", "auto")
    assert opts["weights_dir"].envvar == "EDGETL_WEIGHTS_DIR"


def test_recipe_schema_is_generated_from_the_configs():
    from edgetl.cli.run import run_cmd
    from edgetl.pipeline.recipes import SCHEMA, validate

    for p in recipe_params():
        key = SCHEMA[p.key]
        assert key.param is p or key.param == p
        assert key.default == recipe_default(p) and key.is_list == p.is_list and key.nullable == p.nullable
    recipe = validate({})
    assert recipe["prune_sparsity"] is None and recipe["limit_images"] is None and recipe["label_smoothing"] == 0.0
    assert "label_smoothing" in _options(run_cmd)  # every recipe key is an `edgetl run` option
    assert len({p.key for p in recipe_params()}) == len(recipe_params())  # one key per parameter


@pytest.mark.parametrize("raw,message", [
    ({"input_size": 0}, "recipe key 'input_size' (--input-size) must be >= 1, got 0"),
    ({"limit_images": 0}, "recipe key 'limit_images' (--limit-images) must be >= 1, got 0"),
    ({"limit_images": -3}, "recipe key 'limit_images' (--limit-images) must be >= 1, got -3"),
    ({"dropout": 1.5}, "recipe key 'dropout' (--dropout) must be in [0, 1), got 1.5"),
    ({"prune_sparsity": 1.0}, "recipe key 'prune_sparsity' (--prune-sparsity) must be in (0, 1), got 1.0"),
    ({"threads": [1, 0]}, "recipe key 'threads' (--threads) must be >= 1, got 0"),
    ({"quantize": ["int4"]}, "recipe key 'quantize' (--quantize): unknown value 'int4'"),
    ({"epochs": "ten"}, "recipe key 'epochs' (--epochs) must be an integer"),
    ({"backbone": "lenet"}, "recipe key 'backbone' (--backbone): unknown value 'lenet'"),
])
def test_recipe_values_outside_their_range_are_refused(raw, message):
    from edgetl.pipeline.recipes import validate

    with pytest.raises(EdgetlError) as e:
        validate(raw)
    assert message in str(e.value)


@pytest.mark.parametrize("args,message", [
    (["--input-size", "0"], "--input-size must be >= 1, got 0"),  # was: silently the backbone's default (224)
    (["--limit-images", "0"], "--limit-images must be >= 1, got 0"),  # was: no limit
    (["--limit-images", "-3"], "--limit-images must be >= 1, got -3"),
    (["--label-smoothing", "1"], "--label-smoothing must be in [0, 1), got 1.0"),
    (["--lr", "0"], "--lr must be > 0, got 0.0"),
])
def test_train_refuses_out_of_range_values_in_one_line_before_any_work(tmp_path, args, message):
    out = tmp_path / "run"
    r = run_cli("train", *args, "--out", out)
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert lines == [f"error: {message}"], r.output
    assert not out.exists()


def test_config_check_refuses_and_keeps_good_values():
    cfg = TrainConfig(input_size=96, dropout=0, limit_per_class=5)
    assert check(cfg).dropout == 0.0 and isinstance(cfg.dropout, float)
    with pytest.raises(EdgetlError, match="--distribute: unknown value 'x'; choose one of: none, mirrored, multiworker"):
        check(TrainConfig(distribute="x"))


def test_docs_recipes_md_is_generated_and_up_to_date():
    from edgetl.pipeline.recipes import recipes_markdown

    assert DOCS.read_text(encoding="utf-8") == recipes_markdown(), \
        "docs/recipes.md is stale: python -m edgetl.pipeline.recipes --docs > docs/recipes.md"
    for p in recipe_params():
        assert f"| {p.key} |" in recipes_markdown()


def test_a_new_parameter_is_one_field():
    """The mechanism behind "one edit": a field with param() gets its option, range check and recipe row."""
    @dataclass
    class Extra(TrainConfig):
        warmup_epochs: int = param(0, "Epochs of linear learning-rate warm-up.", min=0)

    @click.command()
    @click_options(Extra, only=("warmup_epochs",))
    def cmd(warmup_epochs):
        click.echo(f"got {warmup_epochs}")

    assert CliRunner().invoke(cmd, ["--warmup-epochs", "3"]).output == "got 3\n"
    assert "Range: >= 0" in CliRunner().invoke(cmd, ["--help"]).output
    with pytest.raises(EdgetlError, match="--warmup-epochs must be >= 0, got -1"):
        check(Extra(warmup_epochs=-1))
    assert from_recipe(Extra, {**{p.key: p.default for p in params(Extra) if p.key}, "warmup_epochs": 2},
                       out="x").warmup_epochs == 2


def test_every_stage_has_a_config_and_every_parameter_has_help():
    assert [name for name, _ in STAGE_CONFIGS] == ["data", "train", "prune", "quantize", "convert", "benchmark",
                                                    "compare", "export"]
    for _, cls in STAGE_CONFIGS:
        for p in params(cls):
            assert p.help.strip() and p.type in (int, float, str, bool), (cls.__name__, p.name)


# ---- label smoothing: the training hyper-parameter added through the config --------------------------

def test_label_smoothing_flows_from_recipe_to_the_compiled_loss(monkeypatch):
    from edgetl.pipeline.recipes import validate
    from edgetl.pipeline.runner import TRAIN_KEYS
    from edgetl.stages import train
    from edgetl.training import model

    assert "label_smoothing" in TRAIN_KEYS  # part of the training stage's fingerprint
    cfg = from_recipe(train.TrainConfig, validate({"label_smoothing": 0.1}), out="runs/x")
    assert cfg.label_smoothing == 0.1
    seen = {}
    monkeypatch.setattr(model, "compile_model", lambda model, lr, **kw: seen.update(kw))
    model.TransferModel.compile(SimpleNamespace(label_smoothing=cfg.label_smoothing), "model", 1e-3)
    assert seen == {"label_smoothing": 0.1}


@pytest.mark.slow
def test_smoothed_loss_matches_the_formula():
    import numpy as np

    from edgetl import _tf
    from edgetl.training.finetune import loss_for

    keras = _tf.keras()
    inp = keras.Input((2,))
    model = keras.Model(inp, keras.layers.Dense(4, activation="softmax")(inp))
    probs = np.array([[0.7, 0.1, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25]], np.float32)
    labels = np.array([0, 3])
    assert loss_for(model, 0.0) == "sparse_categorical_crossentropy"
    got = float(np.mean(loss_for(model, 0.2)(labels, probs).numpy()))
    target = np.full((2, 4), 0.2 / 4) + 0.8 * np.eye(4)[labels]
    assert got == pytest.approx(float(np.mean(-(target * np.log(probs)).sum(1))), rel=1e-5)


def test_quantize_convert_prune_options_come_from_their_configs():
    from edgetl.cli.quantize import convert_cmd, prune_cmd, quantize_cmd
    from edgetl.config.stages import ConvertConfig, PruneConfig, QuantizeConfig

    for cmd, cls, names in ((quantize_cmd, QuantizeConfig, ("calibration_images", "io", "qat_epochs")),
                            (prune_cmd, PruneConfig, ("sparsity", "epochs")),
                            (convert_cmd, ConvertConfig, ("opset", "int8_method")),
                            (convert_cmd, QuantizeConfig, ("calibration_images",))):
        opts = _options(cmd)
        for p in params(cls):
            if p.name in names:
                assert opts[p.name].default == p.default and p.option in opts[p.name].opts, (cmd.name, p.name)
    assert tuple(_options(convert_cmd)["int8_method"].type.choices) == ("tflite", "ort")


def test_benchmark_and_compare_options_come_from_the_benchmark_config():
    from edgetl.cli.bench import benchmark_cmd, compare_cmd
    from edgetl.config.stages import BenchmarkConfig

    by = {p.name: p for p in params(BenchmarkConfig)}
    for cmd in (benchmark_cmd, compare_cmd):
        opts = _options(cmd)
        for name in ("runs", "min_seconds", "warmup", "rounds"):
            assert opts[name].default == by[name].default and by[name].option in opts[name].opts
    assert _options(benchmark_cmd)["budget_ms"].default == by["budget_ms"].default


def test_evaluate_and_predict_options_come_from_their_configs():
    """Every CLI field of EvaluateConfig / PredictConfig is a generated option with the config's default, flag and
    choices; --threads is the one shared hand-written option (text, checked by ``parse_threads``)."""
    from edgetl.cli.evaluate import evaluate_cmd, predict_cmd
    from edgetl.config.stages import SPLIT_CHOICES, EvaluateConfig, PredictConfig

    for cmd, cls in ((evaluate_cmd, EvaluateConfig), (predict_cmd, PredictConfig)):
        opts = _options(cmd)
        cli = [p for p in params(cls) if p.cli]
        assert {p.name for p in cli} >= {"data", "labels_csv", "split", "threshold"}, cmd.name
        for p in cli:
            assert opts[p.name].default == p.default and p.option in opts[p.name].opts, (cmd.name, p.name)
            assert opts[p.name].help.startswith(p.help), (cmd.name, p.name)
        assert tuple(opts["split"].type.choices) == SPLIT_CHOICES
        hand = set(opts) - {p.name for p in cli}
        assert hand <= {"threads", "as_json", "wide"}, (cmd.name, hand)  # presentation, and the one --threads
    assert _options(predict_cmd)["top_k"].default == 3


def test_every_recipe_key_of_every_stage_config_is_in_a_stage_fingerprint():
    """A changed value reruns its stage: the fingerprints come from the configs, so no key can be forgotten."""
    from edgetl.pipeline.runner import STAGES, fingerprints
    from edgetl.pipeline.recipes import validate

    fingerprinted = {k for st in STAGES for k in st.keys}
    assert {p.key for p in recipe_params()} <= fingerprinted
    base = validate({"name": "t", "data": "digits"})
    before = fingerprints(base)
    for p in recipe_params():
        if p.key in ("data", "name"):
            continue
        changed = dict(base, **{p.key: "__changed__"})
        after = fingerprints(changed)
        owner = next(st.name for st in STAGES if p.key in st.keys)
        assert after[owner] != before[owner], p.key


def test_stage_entry_points_take_their_config_and_repeat_no_default():
    """`quantize_run(QuantizeConfig(run=..., modes=[...]))`: a parameter of a config never reappears, with a
    default of its own, in the signature of the function that runs the stage."""
    import inspect

    from edgetl.compare.compare import compare
    from edgetl.config.stages import (BenchmarkConfig, ComparisonConfig, ConvertConfig, EvaluateConfig, ExportConfig,
                                      PredictConfig, PruneConfig, QuantizeConfig, TrainConfig)
    from edgetl.export.android import export_android
    from edgetl.measure.bench import benchmark
    from edgetl.measure.evaluate import evaluate_artifact, predict
    from edgetl.stages.convert import convert_run
    from edgetl.stages.prune import prune_run
    from edgetl.stages.quantize import quantize_run
    from edgetl.stages.train import train

    for fn, cls, at in ((quantize_run, QuantizeConfig, 0), (convert_run, ConvertConfig, 0), (prune_run, PruneConfig, 0),
                        (train, TrainConfig, 0), (benchmark, BenchmarkConfig, 1), (export_android, ExportConfig, 0),
                        (evaluate_artifact, EvaluateConfig, 0), (predict, PredictConfig, 0),
                        (compare, ComparisonConfig, 0)):
        sig = inspect.signature(inspect.unwrap(fn))
        cfg_param = list(sig.parameters.values())[at]
        assert cls.__name__ in str(cfg_param.annotation), (fn.__name__, cfg_param)
        repeated = {p.name for p in params(cls)} & (set(sig.parameters) - {cfg_param.name})
        assert not repeated, (fn.__name__, repeated)


def test_no_command_declares_an_option_twice():
    """A flag written by hand beside the generated one (or generated from two configs) is declared twice:
    Click keeps one silently. Every command of the CLI is checked."""
    import click

    from edgetl.cli import main

    def commands(group):
        for cmd in group.commands.values():
            if isinstance(cmd, click.Group):
                yield from commands(cmd)
            else:
                yield cmd

    for cmd in commands(main):
        flags = [o for p in cmd.params for o in getattr(p, "opts", [])]
        dup = {f for f in flags if flags.count(f) > 1}
        names = [p.name for p in cmd.params]
        assert not dup and len(names) == len(set(names)), (cmd.name, dup)
