"""Issue 20: a report that says what to ship, and plots a person can read (rows written by hand, no training)."""
from __future__ import annotations



from edgetl.report import markdown as report


def _row(name, fmt, acc, p50, size, n=300, threads=1, error=None):
    r = {"name": name, "format": fmt, "runtime": fmt.split(":")[0], "threads": threads, "accuracy": acc,
         "accuracy_n": n, "p50_ms": p50, "size_mb": size, "gate": None, "meets_budget": p50 <= 33, "error": error}
    report._add_interval(r)
    return r


def _crowded():
    """The issue's case: seven files at 0.7-1.5 ms, all near the same accuracy."""
    names = [("model_float32.tflite", "tflite:float32"), ("model_dynamic.tflite", "tflite:dynamic"),
             ("model_float16.tflite", "tflite:float16"), ("model_int8.tflite", "tflite:int8"),
             ("model.onnx", "onnx:float32"), ("model_int8.onnx", "onnx:int8"), ("model_int16x8.tflite", "tflite:int16x8")]
    return [_row(n, f, 0.80 + 0.01 * (i % 2), 0.7 + 0.13 * i, 1.0 + i, n=30) for i, (n, f) in enumerate(names)]


def _capture(monkeypatch):
    figs = []
    monkeypatch.setattr(report, "_save", lambda fig, path: figs.append(fig))
    return figs


def test_pareto_labels_do_not_overlap_axis_stays_within_1_and_intervals_are_drawn(monkeypatch, tmp_path):
    figs = _capture(monkeypatch)
    rows = _crowded() + [_row("model.keras", "keras", 1.0, 9.0, 5.0, n=30)]
    assert report.plot_pareto(rows, tmp_path / "p.png") is not None
    fig = figs[0]
    ax = fig.axes[0]
    assert ax.get_ylim()[1] <= 1.0
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    from matplotlib.text import Text

    boxes = [Text.get_window_extent(t, renderer) for t in ax.texts]  # the words, without their leader lines
    assert len(boxes) == len(rows)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), "two labels overlap"
    assert len(ax.containers) == len(rows)  # one error bar (95% interval) per point
    assert "95% Wilson interval" in ax.get_title() and "n = 30" in ax.get_title()


def test_pareto_legend_shows_a_line_only_when_the_front_is_drawn(monkeypatch, tmp_path):
    figs = _capture(monkeypatch)
    one_front = [_row("model_int8.tflite", "tflite:int8", 0.9, 1.0, 1.0), _row("model.onnx", "onnx:float32", 0.8, 2.0, 2.0)]
    report.plot_pareto(one_front, tmp_path / "p.png")
    handle = figs[0].axes[0].get_legend().legend_handles[0]
    assert handle.get_linewidth() == 0 and not [ln for ln in figs[0].axes[0].lines if ln.get_color() == "tab:red"
                                                 and len(ln.get_xdata()) > 1]
    two_front = [_row("model_int8.tflite", "tflite:int8", 0.8, 1.0, 1.0), _row("model.onnx", "onnx:float32", 0.9, 2.0, 2.0)]
    report.plot_pareto(two_front, tmp_path / "p.png")
    assert figs[1].axes[0].get_legend().legend_handles[0].get_linewidth() > 0
    assert [ln for ln in figs[1].axes[0].lines if len(ln.get_xdata()) > 1]  # the staircase is drawn


def test_training_plot_greys_out_a_discarded_phase_2_and_says_why(monkeypatch, tmp_path):
    figs = _capture(monkeypatch)
    h = {"phase1": {"loss": [0.4], "accuracy": [0.9], "val_loss": [0.45], "val_accuracy": [0.88]},
         "phase2": {"loss": [0.3, 0.2], "accuracy": [0.92, 0.95], "val_loss": [0.5, 0.55], "val_accuracy": [0.87, 0.86]},
         "selection": {"kept": "phase1", "reason": "fine-tuning did not lower the validation loss"}}
    report.plot_training(h, tmp_path / "t.png")
    fig = figs[0]
    assert any("phase 2 (shaded) discarded: fine-tuning did not lower" in t.get_text() for t in fig.texts)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "phase1 train (kept)" in labels and "phase2 val (discarded)" in labels
    assert any(p.get_alpha() and p.get_alpha() < 0.5 for p in fig.axes[0].patches)  # the shaded span


def test_ship_this_picks_the_fastest_file_inside_the_best_ones_interval(tmp_path):
    rows = [_row("model_float32.tflite", "tflite:float32", 0.90, 3.0, 2.0),
            _row("model_int8.tflite", "tflite:int8", 0.89, 1.0, 0.6),
            _row("model_int8.tflite", "tflite:int8", 0.89, 0.6, 0.6, threads=2),  # a thread row is not a file
            _row("model.onnx", "onnx:float32", 0.95, 0.5, 2.0),  # not what the Android app runs
            _row("model_float16.tflite", "tflite:float16", 0.93, 40.0, 1.0)]  # over the budget
    md = "\n".join(report.ship_this(rows, 33.0, tmp_path / "run", "HOST"))
    assert "**`model_int8.tflite`** (tflite:int8)" in md
    assert "`model_float32.tflite` is the most accurate within the budget" in md
    assert "no detectable difference" in md and "better" not in md
    assert f"edgetl export android {tmp_path / 'run'} --artifact int8" in md and "(HOST)" in md
    assert "89.0% [" in md and "n=300" in md


def _with_images(r, a_only, b_only, right_both, n=300):
    """``r`` with per-image test results (as gate.json keeps them) against a reference file that is right on
    ``right_both + b_only`` of the same ``n`` images; returns (r, the reference's results)."""
    import numpy as np

    from edgetl.metrics import pack_correct

    ok = np.zeros(n, bool)
    ok[:a_only] = True
    ok[a_only + b_only:a_only + b_only + right_both] = True
    ref = np.zeros(n, bool)
    ref[a_only:a_only + b_only + right_both] = True
    r.update(accuracy=ok.mean(), test_correct=pack_correct(ok))
    report._add_interval(r)
    return r, pack_correct(ref), ref.mean()


def test_ship_this_prints_the_paired_test_and_lets_it_decide_the_tie(tmp_path):
    from edgetl.metrics import mcnemar, unpack_correct

    # int8 is 4.7 points below float32 (outside its Wilson interval), but on the same 300 images the two files
    # disagree on 66, 26 one way and 40 the other: McNemar finds no detectable difference, so the faster ships.
    int8, ref, acc = _with_images(_row("model_int8.tflite", "tflite:int8", 0, 1.0, 0.6), 26, 40, 230)
    f32 = _row("model_float32.tflite", "tflite:float32", acc, 3.0, 2.0)
    f32["test_correct"] = ref
    assert not f32["low"] <= int8["accuracy"] <= f32["high"]
    p = mcnemar(unpack_correct(int8["test_correct"], 300), unpack_correct(ref, 300))["p"]
    assert 0.05 < p < 0.2
    md = "\n".join(report.ship_this([f32, int8], 33.0, tmp_path / "run"))
    assert "**`model_int8.tflite`**" in md
    assert (f"`model_int8.tflite` vs `model_float32.tflite` on the same 300 test images: 26 vs 40 discordant images "
            f"(right in one file only), exact McNemar p = {p:.2f}: no detectable difference.") in md
    # int8 3 points below, inside float32's interval, but wrong on 9 images float32 gets right and never the
    # reverse (p = 2/512): a detectable difference, so float32 ships
    int8, ref, acc = _with_images(_row("model_int8.tflite", "tflite:int8", 0, 1.0, 0.6), 0, 9, 261)
    f32 = _row("model_float32.tflite", "tflite:float32", acc, 3.0, 2.0)
    f32["test_correct"] = ref
    assert f32["low"] <= int8["accuracy"] <= f32["high"]
    md = "\n".join(report.ship_this([f32, int8], 33.0, tmp_path / "run"))
    assert "**`model_float32.tflite`**" in md and "it is the most accurate TFLite file within the budget." in md


def test_ship_this_says_when_no_paired_test_is_possible(tmp_path):
    rows = [_row("model_float32.tflite", "tflite:float32", 0.90, 3.0, 2.0),
            _row("model_int8.tflite", "tflite:int8", 0.89, 1.0, 0.6)]
    md = "\n".join(report.ship_this(rows, 33.0, tmp_path / "run"))
    assert "Paired test of `model_int8.tflite` and `model_float32.tflite`: not available" in md
    assert "no detectable difference: inside its 95% interval" in md


def test_ship_this_says_so_when_nothing_fits_the_budget(tmp_path):
    md = "\n".join(report.ship_this([_row("model_int8.tflite", "tflite:int8", 0.9, 50.0, 1.0)], 33.0, tmp_path))
    assert "No file fits the budget of 33 ms" in md and "model_int8.tflite" in md


def test_short_table_folds_thread_rows():
    rows = [_row("model_int8.tflite", "tflite:int8", 0.9, 1.0, 0.6), _row("model_int8.tflite", "tflite:int8", 0.9, 0.6, 0.6, threads=2)]
    (one,) = report.short_rows(rows)
    assert one["p50"] == "1.00 / 0.60" and one["acc_ci"].startswith("90.0% [")


def test_compare_plot_labels_its_axes_inside_one_decade_and_names_alpha_and_size(tmp_path, monkeypatch):
    """A log axis inside one decade shows no tick label at all: such axes are linear; the legend says alpha and px."""
    import matplotlib.pyplot as plt

    from edgetl.report import compare_plot

    figs = []
    monkeypatch.setattr(plt, "close", lambda fig: figs.append(fig))
    row = {"backbone": "mobilenet_v2", "alpha": 1.0, "input_size": 224, "tflite_float32_mb": 13.9,
           "tflite_float32_p50_ms": 24.0, "tflite_int8_mb": 3.96, "tflite_int8_p50_ms": 11.6, "onnx_mb": 13.9,
           "onnx_p50_ms": 28.1}
    result = {"measured": [row], "settings": {"formats": ["tflite:float32", "tflite:int8", "onnx:float32"], "threads": 1}}
    compare_plot.plot(result, tmp_path / "c.png")
    ax = figs[0].axes[0]
    figs[0].canvas.draw()
    assert [t.get_text() for t in ax.get_yticklabels() if t.get_text()] and ax.get_yscale() == "linear"
    assert [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert "mobilenet_v2 a1.0 224px tflite int8" in ax.get_legend_handles_labels()[1]


def test_report_shows_the_per_layer_error_of_every_int8_file_and_why_one_is_missing():
    """Issue 19: the table for a plain default int8 record (no --auto, no --max-drop) and a QAT file (measured
    against its float twin, titled so), the reason when a table could not be measured."""
    from edgetl.tflite.auto_float import error_table

    rows = [{"tensor": f"m/block_{i}/Relu6;m/x", "op": "CONV_2D" if i % 2 else "DEPTHWISE_CONV_2D",
             "rmse_scale": 0.1 * i, "scale": 0.02} for i in range(12)]
    rows.append({"tensor": "m/bad", "op": "MEAN", "rmse_scale": float("nan"), "scale": 0.0})
    table = {**error_table(rows, ["m/block_9/Relu6;m/x", "DEPTHWISE_CONV_2D"]), "threshold": 0.7, "images": 64}
    assert table["tensors_measured"] == 12 and len(table["rows"]) == 10  # the NaN row is not ranked
    assert [r["tensor"][:9] for r in table["rows"][:3]] == ["m/block_1", "m/block_1", "m/block_9"]  # 1.1, 1.0, 0.9
    assert [r["kept"] for r in table["rows"][:3]] == [False, True, True]  # block_10 is depthwise, block_9 named
    recs = [{"file": "model_int8.tflite", "layer_error": table},
            {"file": "model_qat.tflite", "layer_error": {**table, "method": "float twin"}},
            {"file": "other_int8.tflite", "layer_error": {"error": "the debugger failed"}}]
    md = "\n".join(report.measured_notes_markdown({"quantize": {"artifacts": recs}}))
    assert "## Per-layer int8 error: model_int8.tflite" in md
    assert "Quantization debugger on 64 calibration images, worst 10 of 12 tensors" in md
    assert "| m/block_11/Relu6 | CONV_2D | 1.10 | 0.02 | int8 |" in md and "| m/block_9/Relu6 | CONV_2D | 0.90 | 0.02 | float |" in md
    assert "m/block_1/Relu6 |" not in md  # below the top 10
    assert "## Per-layer int8 error: model_qat.tflite" in md
    assert md.count("Quantization debugger on 64") == 1  # the int8 file's; the QAT file's says how it was measured
    assert "Against the float twin (QAT weights, no fake-quant) on 64 calibration images, worst 10 of 12" in md
    assert "## Per-layer int8 error: other_int8.tflite" in md and "not measured: the debugger failed" in md
