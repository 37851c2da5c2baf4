"""The parameters of every stage, each defined ONCE: default, type (the annotation), range, choices, help.

The CLI options (``params.click_options``), the recipe keys with their validation
(``SCHEMA`` in pipeline/recipes.py) and docs/recipes.md (``recipes_markdown``) are generated from
these dataclasses. Adding a training hyper-parameter: one ``param(...)`` field in ``TrainConfig``,
its use in the train stage, a test; the flag, the recipe key and its docs follow.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from edgetl.config.params import param, params
from edgetl.formats.keep_float import DEFAULT as KEEP_FLOAT_DEFAULT
from edgetl.formats.registry import (COMPARE_FORMATS, CONVERT_TARGETS, DEFAULT_IO, DEFAULT_MODES, IO_TYPES, MODES, io_help,
                                     threshold_help)


def _backbones() -> tuple:
    from edgetl.backbones.registry import BACKBONES

    return tuple(BACKBONES)


def _input_pipelines() -> tuple:
    from edgetl.data.stream import INPUT_PIPELINES

    return INPUT_PIPELINES


STRATEGIES = ("none", "mirrored", "multiworker")  # --distribute (training/distribute.py builds them)
INT8_ONNX_METHODS = ("tflite", "ort")  # --int8-method: where the int8 ONNX file comes from (stages/convert.py)


@dataclass
class DataConfig:
    data: str = param("digits", "Folder with one sub-folder per class, or train/ + val/ (valid/, validation/) and/or "
                      "test/ split folders, or a flat image folder with --labels-csv; 'digits' (built-in, offline) or "
                      "tfds:NAME[:split]. See docs/data.md.")
    labels_csv: Optional[str] = param(None, "Kaggle-style CSV (id/file column, label column) naming the images in the "
                                      "flat --data folder; ids may omit the extension.")
    val_ratio: float = param(0.15, "Validation share of each class.", min=0, max=1, max_open=True)
    test_ratio: float = param(0.15, "Test share of each class.", min=0, max=1, max_open=True)
    limit_per_class: Optional[int] = param(None, "Use at most N images per class (quick trials).", min=1,
                                           flag="--limit-images", recipe="limit_images")
    seed: int = param(42, "Random seed (splits, initialisation, shuffling).", min=0)


@dataclass
class TrainConfig(DataConfig):
    backbone: str = param("mobilenet_v2", "See `edgetl backbones`.", choices=_backbones, click_choice=False)
    alpha: Optional[float] = param(None, "Width multiplier (mobilenet, mobilenet_v2 only).", min=0, min_open=True)
    input_size: Optional[int] = param(None, "Square input size in px.", min=1, default_help="the backbone's")
    weights: str = param("auto", "auto (ImageNet if available, else random, loudly), imagenet, none, or a .h5 "
                         "weights FILE.")
    weights_dir: Optional[str] = param(None, "Folder with keras.applications weight files [env: EDGETL_WEIGHTS_DIR].",
                                       envvar="EDGETL_WEIGHTS_DIR")
    epochs: int = param(20, "Phase 1 (frozen base) epochs of Adam when the base is recomputed (--augment, label "
                        "smoothing), and whole-network epochs from random weights; early stopping may end them sooner. "
                        "On cached features the head is a logistic regression solved to convergence instead.", min=1)
    fine_tune_epochs: int = param(5, "Phase 2 epochs (0: skip).", min=0)
    unfreeze: int = param(30, "Top layers of the base unfrozen in phase 2.", min=0)
    lr: float = param(1e-3, "Phase 1 learning rate (Adam).", min=0, min_open=True)  # 5e-3 fell below a logistic regression
    fine_tune_lr: Optional[float] = param(None, "Phase 2 learning rate.", min=0, min_open=True, default_help="lr/10")
    batch_size: int = param(32, "Batch size.", min=1)
    augment: bool = param(False, "Random flip/rotation/zoom/contrast. Off: phase 1 runs on cached base features "
                          "(much faster).")
    class_weights: str = param("none", "auto: balanced class weights for imbalanced data.", choices=("none", "auto"))
    dropout: float = param(0.2, "Dropout before the new dense layer.", min=0, max=1, max_open=True)
    label_smoothing: float = param(0.0, "Label smoothing of the training loss (e.g. 0.1: targets 0.9 for the true "
                                   "class, the rest spread over the others); regularises small datasets.",
                                   min=0, max=1, max_open=True)
    patience: int = param(5, "Early stopping: epochs without a better validation loss.", min=0)
    positive_class: Optional[str] = param(None, "Two classes: the class of interest for precision/recall and "
                                          "--target-recall.", default_help="the second in sorted order")
    target_recall: Optional[float] = param(None, "Two classes: choose the decision threshold so that the lower 95% "
                                           "bound of the positive class's recall reaches this (e.g. 0.95), on "
                                           "out-of-fold scores of train + validation (the validation split when "
                                           "phase 2 is kept); stored in the run and every artifact's contract.", min=0, max=1, min_open=True)
    out: str = param("runs/train", "Run directory to write.", recipe="")
    input_pipeline: str = param("auto", "memory: decode every image once into RAM; stream: tf.data reads and decodes "
                                "batch by batch (memory bounded by batch and buffers); auto: memory up to 1 GiB of "
                                "decoded pixels, else stream. Same split, same pixels either way.",
                                choices=_input_pipelines, recipe="")
    cache_dir: Optional[str] = param(None, "Folder of the on-disk phase-1 feature cache, reused by later runs on the "
                                     "same data, backbone and weights; 'none' keeps features in memory.",
                                     envvar="EDGETL_CACHE_DIR", recipe="",
                                     default_help="$EDGETL_CACHE_DIR or ~/.cache/edgetl")
    distribute: str = param("none", "tf.distribute strategy: mirrored = local devices; multiworker = the machines in "
                            "TF_CONFIG (run the same command on each). --batch-size is per replica; learning rates "
                            "scale with the replicas.", choices=STRATEGIES, recipe="")
    distribute_timeout: float = param(300.0, "Seconds a worker waits for the others before failing with an error "
                                      "(multiworker).", min=0, min_open=True, recipe="")


    def validate(self):
        """Check every parameter (types, ranges, choices: `--input-size 0` is refused, not defaulted) and resolve
        the backbone's alpha and input size in place; returns the backbone's spec."""
        from edgetl.backbones.registry import get_backbone
        from edgetl.config.params import check

        check(self)
        spec = get_backbone(self.backbone)
        self.alpha = spec.check_alpha(self.alpha)
        self.input_size = spec.check_size(self.input_size)
        return spec

    def data_options(self):
        """The data source's options (``edgetl.data.sources.DataOptions``) of this config."""
        from edgetl.data.sources import DataOptions

        return DataOptions(str(self.data), self.val_ratio, self.test_ratio, self.seed, self.limit_per_class,
                           labels_csv=self.labels_csv)


@dataclass
class RunFolder:
    run: str = param("", "Run directory written by `edgetl train` (RUN_DIR).", recipe="", cli=False)


@dataclass
class RunConfig(RunFolder):
    """What every stage after training reads: the run folder and, if it moved, its data."""
    data: Optional[str] = param(None, "The run's data folder, if it moved.", recipe="",
                                default_help="the one in manifest.json")


@dataclass
class GateConfig(RunConfig):
    """What every stage that writes gated artifacts (quantize, convert) reads beside the run."""
    model: Optional[str] = param(None, "Keras model to convert instead of RUN_DIR/model.keras, e.g. "
                                 "model_pruned.keras from `edgetl prune`; artifacts are named after it "
                                 "(model_pruned_int8.tflite).", recipe="")
    parity_images: Optional[int] = param(None, "Validation images the parity gate compares on: a stratified seeded "
                                         "sample across classes.", min=1, recipe="",
                                         default_help="the whole validation split up to 2000 images, else 1000")
    min_agreement: list[str] = param([], "Parity threshold (top-1 agreement with Keras): 0.97 for all, or MODE=0.9 / "
                                     f"onnx:int8=0.9 (repeatable) [defaults: {threshold_help()}].",
                                     recipe_help="Parity-gate overrides: 0.97 (all) or MODE=0.9 (e.g. int8=0.9, "
                                     "onnx:int8=0.9).")


@dataclass
class CalibrationConfig:
    calibration_images: int = param(200, "Training images used to calibrate int8/int16x8 (and int8 ONNX by "
                                    "--int8-method ort).", min=1)


@dataclass
class DropConfig:
    max_drop: Optional[float] = param(1.0, "The largest accuracy drop from float, in points, on the run's "
                                      "validation split (paired, with its 95% interval); prune: a pruned model "
                                      "above it is flagged. int8: above it, the tensors with "
                                      "the worst quantization error go back into float one at a time (at most 5, "
                                      "each measured); if the drop still does not fit, the file is written with a "
                                      "warning naming --mode qat. Every step is in the record and gate.json.",
                                      min=0)


@dataclass
class PruneConfig(DropConfig, RunConfig):
    sparsity: Optional[float] = param(0.5, "Target fraction of zero weights.", min=0, max=1, min_open=True,
                                      max_open=True, recipe="prune_sparsity", recipe_default=None,
                                      recipe_help="TFMOT low-magnitude pruning target; null: no pruning.")
    epochs: int = param(1, "Fine-tuning epochs while pruning.", min=1, recipe="prune_epochs")


@dataclass
class QuantizeConfig(DropConfig, CalibrationConfig, GateConfig):
    modes: list[str] = param(list(DEFAULT_MODES), "TFLite modes (see `edgetl quantize --help`).", choices=MODES,
                             flag="--mode", recipe="quantize", cli=False)
    io: str = param(DEFAULT_IO, io_help(), choices=IO_TYPES)
    qat_epochs: int = param(1, "Quantization-aware fine-tuning epochs.", min=0)
    keep_float: list[str] = param(list(KEEP_FLOAT_DEFAULT), "What int8 (and qat) keeps in float: 'fallback' = every op with "
                                  "no int8 kernel in XNNPACK that cuts the graph (MobileNetV3's HARD_SWISH), found "
                                  "by opening the int8 file with the runtime; 'none' = nothing (the plain int8 "
                                  "file); or TFLite op names in capitals (HARD_SWISH, MEAN) / tensor names from "
                                  "`edgetl benchmark --ops`, which replace the default (add 'fallback' to keep it). "
                                  "Comma-separated or repeated; the file's contract and gate.json say what was kept "
                                  "and why.", flag="--keep-float", cli=False)
    auto_keep_float: bool = param(False, "int8 keeps in float, beside --keep-float, the ops that cut the graph "
                                  "out of XNNPACK and the quantization debugger's worst tensors (`edgetl quantize "
                                  "--auto`, rule in docs/quantize.md).")


@dataclass
class ConvertConfig(CalibrationConfig, GateConfig):
    to: list[str] = param(["onnx"], "Extra formats written by `edgetl convert` (tflite: float32 TFLite; onnx: float "
                          "+ int8 ONNX).", choices=CONVERT_TARGETS, recipe="convert", cli=False)
    opset: int = param(17, "ONNX opset (tf2onnx supports 13..18 here).", min=1)
    int8_method: str = param("tflite", "int8 ONNX by tf2onnx from the gated model_int8.tflite (same integer graph) "
                             "or by onnxruntime static quantization of model.onnx (ort: float input, calibrated on "
                             "training images).", choices=INT8_ONNX_METHODS)


@dataclass
class BenchmarkConfig:
    threads: list[int] = param([1], "Benchmark thread counts.", min=1, cli=False)
    runs: int = param(50, "Timed runs, at least (over all rounds).", min=1)
    min_seconds: float = param(1.0, "Timed seconds, at least.", min=0)
    warmup: int = param(5, "Warm-up runs per round, at least (and at least 0.5 s).", min=0)
    rounds: int = param(3, "Rounds interleaved across artifacts (each a fresh subprocess per artifact) to cancel "
                        "drift.", min=1, recipe="bench_rounds")
    budget_ms: float = param(33.0, "Frame budget for p50 (33 ms = 30 FPS).", min=0, min_open=True)


@dataclass
class CompareConfig:
    compare_backbones: list[str] = param([], "Backbones for the comparison table (empty: the run's own).",
                                         choices=_backbones, cli=False, click_choice=False)
    compare_input_size: Optional[int] = param(None, "Input size for the comparison.", min=1, cli=False,
                                              default_help="the run's")


COMPARE_BACKBONES = ("alexnet", "vgg16", "resnet50", "mobilenet", "mobilenet_v2", "mobilenet_v3_large")


@dataclass
class ComparisonConfig(BenchmarkConfig):
    """`edgetl compare`: the classic table, built, converted and measured (``compare.compare``). Not a recipe stage:
    the recipe's compare stage fills it from ``CompareConfig``'s keys and the benchmark's."""
    backbones: list[str] = param(list(COMPARE_BACKBONES), "Comma-separated backbones (see `edgetl backbones`).",
                                 choices=_backbones, click_choice=False, comma=True, recipe="")
    input_size: Optional[int] = param(224, "Square input size in px for every backbone.", min=1, recipe="")
    alpha: Optional[float] = param(None, "Width multiplier for the backbones that take one (mobilenet, mobilenet_v2); "
                                   "others ignore it.", min=0, min_open=True, recipe="")
    data: Optional[str] = param(None, "Train a transfer classifier per backbone on DIR (class folders) and report "
                                "test accuracy.", recipe="")
    weights_dir: Optional[str] = param(None, "Folder of ImageNet no-top weights (with --data).", recipe="")
    epochs: int = param(3, "Feature-extraction epochs (with --data).", min=1, recipe="")
    reference: Optional[str] = param(None, "Google's uint8 mobilenet_v2_1.0_224_quant.tflite: benchmarked beside our "
                                     "int8 MobileNetV2 1.0 224.", recipe="")
    workdir: Optional[str] = param(None, "Keep the converted artifacts in DIR.", recipe="",
                                   default_help="a temporary folder, deleted afterwards")
    formats: list[str] = param(list(COMPARE_FORMATS), "Comma-separated artifact formats per backbone: TFLite modes "
                               "(tflite:MODE, see `edgetl quantize --help`; qat needs training and is left out) and "
                               "onnx:float32.", comma=True, recipe="")
    classes: int = param(1000, "Classes of each backbone's classic ImageNet classifier (without --data).", min=2,
                         cli=False, recipe="")


@dataclass
class ExportConfig(RunFolder):
    android: bool = param(False, "Export to android_demo's assets at the end of `edgetl run`.", cli=False)
    artifact: str = param("int8", "Which TFLite artifact of the run: a mode (see `edgetl quantize --help`; the "
                          "model_<mode>.tflite files in RUN_DIR) or a .tflite path.", recipe="android_artifact")
    also: list[str] = param([], "More artifacts shipped beside it under their run file names (the app's model "
                            "picker).", recipe="", cli=False)
    out: Optional[str] = param(None, "Assets folder to write.", recipe="", cli=False,
                               default_help="android_demo/app/src/main/assets from the edgetl checkout, else "
                               "RUN_DIR/android")


SPLIT_CHOICES = ("auto", "all", "train", "val", "test")  # the images of --data that evaluate and predict score


@dataclass
class LabelledDataConfig:
    """Labelled images that `evaluate` and `predict --data` score, selected by ``measure.evaluate.select_images``."""
    data: Optional[str] = param(None, "Labelled images in any layout edgetl trains on (docs/data.md), or digits.",
                                recipe="", default_help="the data the run was trained on: its test split")
    labels_csv: Optional[str] = param(None, "Kaggle-style id,label CSV naming the images of the flat --data folder.",
                                      recipe="")
    split: str = param("auto", "auto: the run's own test split when --data is the run's data; the test/ (or val/) "
                       "folder of a split layout; every image otherwise.", choices=SPLIT_CHOICES, recipe="")


@dataclass
class DecisionConfig:
    """How `evaluate` and `predict` run an artifact: its decision and its threads."""
    threshold: Optional[float] = param(None, "Two classes: probability of the positive class from which an image is "
                                       "called positive.", min=0, max=1, recipe="",
                                       default_help="the artifact's own decision, else the top class")
    threads: Optional[int] = param(None, "Inference threads.", min=1, recipe="", cli=False,  # cli: threads_option
                                   default_help="the runtime's")


@dataclass
class EvaluateConfig(DecisionConfig, LabelledDataConfig):
    """`edgetl evaluate`: metrics of a run or artifact on labelled images. Not a recipe stage."""
    target: str = param("", "A run directory (its Keras model) or one artifact (RUN_OR_ARTIFACT).", recipe="",
                        cli=False)


@dataclass
class PredictConfig(DecisionConfig, LabelledDataConfig):
    """`edgetl predict`: label and score per image, of IMAGES or of labelled --data. Not a recipe stage."""
    data: Optional[str] = param(None, "Labelled images instead of IMAGES: any layout of docs/data.md, or digits; each "
                                "prediction also gives its true class.", recipe="")
    artifact: str = param("", "A run directory (its Keras model) or one artifact (ARTIFACT).", recipe="", cli=False)
    images: list[str] = param([], "Image files and/or folders (IMAGES_OR_FOLDERS).", recipe="", cli=False)
    top_k: int = param(3, "Labels shown per image, best first.", min=1, recipe="")


@dataclass
class SearchConfig(DataConfig):
    """`edgetl search`: the model to ship within a latency and size budget (docs/search.md). Not a recipe stage."""

    budget_ms: Optional[float] = param(None, "Latency budget: the pick's p50 (this machine's, or --latency-from's) must "
                                       "be at most this many ms.", min=0, min_open=True, recipe="",
                                       default_help="required")
    max_mb: Optional[float] = param(None, "Size budget: the pick's .tflite file must be at most this many MB.", min=0,
                                    min_open=True, recipe="")
    threads: int = param(1, "Threads of the latency benchmark.", min=1, recipe="")
    backbones: list[str] = param([], "Backbones to try (comma-separated; empty: every backbone of the registry with "
                                 "ImageNet weights).", choices=_backbones, click_choice=False, comma=True, recipe="")
    alphas: list[float] = param([], "Width multipliers to try (comma-separated; empty: every one with ImageNet weights; "
                                "backbones without a width multiplier are kept).", min=0, min_open=True, comma=True,
                                recipe="")
    sizes: list[int] = param([96, 128, 160, 192, 224], "Input sizes in px to try (comma-separated).", min=1, comma=True,
                             recipe="")
    folds: int = param(5, "Stratified cross-validation folds over the train + validation images.", min=2, recipe="")
    calibration_images: int = param(100, "Training images that calibrate each candidate's int8 file.", min=1,
                                    recipe="")
    positive_class: Optional[str] = param(None, "Two classes: the class of interest for AUC and --target-recall.",
                                          default_help="the second in sorted order", recipe="")
    target_recall: Optional[float] = param(None, "Two classes: rank by precision at this recall of the positive class "
                                           "(each fold's threshold chosen on its validation share) instead of AUC.",
                                           min=0, max=1, min_open=True, recipe="")
    train: bool = param(False, "Go on to train, quantize, benchmark and export the pick (`edgetl run` on the written "
                        "recipe, into OUT/run).", recipe="")
    rounds: int = param(3, "Benchmark rounds interleaved across every candidate file.", min=1, recipe="")
    min_seconds: float = param(1.0, "Timed seconds per file, at least (over all rounds).", min=0, recipe="")
    latency_from: Optional[str] = param(None, "JSON of latencies measured elsewhere (format edgetl-latency/1, "
                                        "docs/search.md): replaces this machine's benchmark.", recipe="")
    download: bool = param(True, "Download missing ImageNet weights when online (else: only local weights).",
                           recipe="")
    weights_dir: Optional[str] = param(None, "Folder with keras.applications weight files [env: EDGETL_WEIGHTS_DIR].",
                                       envvar="EDGETL_WEIGHTS_DIR", recipe="")
    cache_dir: Optional[str] = param(None, "Folder of the on-disk phase-1 feature cache (shared with `edgetl train`).",
                                     envvar="EDGETL_CACHE_DIR", recipe="",
                                     default_help="$EDGETL_CACHE_DIR or ~/.cache/edgetl")
    out: str = param("runs/search", "Folder for search.json, the candidate files and recipe.yaml (a rerun resumes).",
                     recipe="")


STAGE_CONFIGS = (("data", DataConfig), ("train", TrainConfig), ("prune", PruneConfig), ("quantize", QuantizeConfig),
                 ("convert", ConvertConfig), ("benchmark", BenchmarkConfig), ("compare", CompareConfig),
                 ("export", ExportConfig))


def recipe_params() -> list:
    """The ``Param`` of every recipe key of every stage config, in road order, each key once."""
    out, seen = [], set()
    for _, cls in STAGE_CONFIGS:
        for p in params(cls):
            if p.key and p.key not in seen:
                seen.add(p.key)
                out.append(p)
    return out
