"""The segmented float ONNX export (edgetl.onnx.export.export_onnx above max_params) on a small chain model:
the path VGG16/19 take, proven on real files and real runtimes in seconds."""
import numpy as np
import pytest

pytestmark = pytest.mark.slow


def _chain_model():
    from edgetl import _tf

    keras = _tf.keras()
    _tf.set_seed(0)
    inp = keras.Input((32, 32, 3), name="input")
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(inp)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(16, activation="relu", name="fc1")(x)
    x = keras.layers.Dropout(0.5, name="drop")(x)
    x = keras.layers.Dense(4, activation="softmax", name="predictions")(x)
    return keras.Model(inp, x)


def test_segmented_onnx_matches_keras_and_quantizes(tmp_path):
    import onnx

    from edgetl.formats.contract import Contract
    from edgetl.runtime.runners import ONNX_CONTRACT_KEY, open_artifact
    from edgetl.onnx.export import export_onnx, export_onnx_int8_ort
    from edgetl.onnx.segments import _segments, chain_layers

    model = _chain_model()
    assert [len(s) for s in _segments(chain_layers(model))] == [3, 1, 1]  # conv..flatten | fc1 | predictions
    c = Contract(labels=list("abcd"), height=32, width=32, output_units=4)
    out = tmp_path / "model.onnx"
    export_onnx(model, c, out, max_params=0)  # 0: every chain model takes the segmented path
    proto = onnx.load(str(out))
    assert [p.key for p in proto.metadata_props] == [ONNX_CONTRACT_KEY]
    names = {n.name for n in proto.graph.node}
    assert {"s1/fc1/MatMul", "s2/predictions/Softmax"} <= names  # the hand-written Dense, segments 1 and 2
    assert not (tmp_path / "model.onnx.data").exists()  # one file

    px = np.random.default_rng(1).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    ref = model.predict(c.normalize(px).astype(np.float32), verbose=0)
    got = open_artifact(out).predict(px)
    np.testing.assert_allclose(got, ref, atol=1e-5)

    rec = export_onnx_int8_ort(out, c, tmp_path / "model_int8.onnx", px)
    assert rec["size_mb"] > 0
    q = open_artifact(tmp_path / "model_int8.onnx").predict(px)
    assert q.shape == ref.shape and np.isfinite(q).all()


def test_non_chain_model_is_not_segmented():
    from edgetl import _tf
    from edgetl.onnx.segments import chain_layers

    keras = _tf.keras()
    inp = keras.Input((8, 8, 3))
    a = keras.layers.Conv2D(3, 1)(inp)
    out = keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([inp, a]))  # a skip connection
    assert chain_layers(keras.Model(inp, out)) is None
