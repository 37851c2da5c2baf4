package io.edgetl.core;

/** dtype and quantisation of one model tensor, as model.json states it (mirrors edgetl.contract.TensorSpec). */
public final class TensorSpec {
    public final String dtype;
    /** Quantisation scale, as float32 (the precision the Python arithmetic uses); 0 when not quantized. */
    public final float scale;
    public final int zeroPoint;

    public TensorSpec(String dtype, float scale, int zeroPoint) {
        this.dtype = dtype;
        this.scale = scale;
        this.zeroPoint = zeroPoint;
    }

    public static TensorSpec float32() {
        return new TensorSpec("float32", 0f, 0);
    }

    public boolean isQuantized() {
        return "uint8".equals(dtype) || "int8".equals(dtype);
    }

    /** Smallest representable value of a quantized dtype. */
    public int min() {
        return "int8".equals(dtype) ? -128 : 0;
    }

    /** Largest representable value of a quantized dtype. */
    public int max() {
        return "int8".equals(dtype) ? 127 : 255;
    }

    /** Bytes per element in the interpreter's buffer. */
    public int bytesPerElement() {
        return isQuantized() ? 1 : 4;
    }

    @Override
    public String toString() {
        return isQuantized() ? dtype + "(scale=" + scale + ", zero_point=" + zeroPoint + ")" : dtype;
    }
}
