package io.edgetl.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * RGB pixels -> the exact input tensor of the model (edgetl.contract.Contract.to_input):
 * <pre>
 *   x = (pixel[channel_order] - mean) / std                   float32 arithmetic, like numpy float32
 *   q = clip(rint(x / scale + zero_point), min, max)          uint8 / int8 input (rint = numpy round-half-even)
 * </pre>
 */
public final class InputEncoder {
    private final ModelContract contract;

    public InputEncoder(ModelContract contract) {
        this.contract = contract;
    }

    public ModelContract contract() {
        return contract;
    }

    /** A direct buffer in native byte order, sized for one input (what the LiteRT Interpreter wants). */
    public ByteBuffer allocate() {
        return ByteBuffer.allocateDirect(contract.inputBytes()).order(ByteOrder.nativeOrder());
    }

    /** Resize any-size RGB bytes to the contract's size, then {@link #encodeResized}. */
    public void encode(byte[] rgb, int width, int height, ByteBuffer dst) {
        encodeResized(ImageResizer.resizeRgb(rgb, width, height, contract.width, contract.height), dst);
    }

    /** Bitmap-style ARGB ints of any size -> input tensor in {@code dst}. */
    public void encodeArgb(int[] argb, int width, int height, ByteBuffer dst) {
        encode(Pixels.rgbFromArgb(argb, width, height), width, height, dst);
    }

    /** RGB bytes already at the contract's size -> input tensor written into {@code dst} from position 0. */
    public void encodeResized(byte[] rgb, ByteBuffer dst) {
        int n = contract.height * contract.width;
        if (rgb.length != n * 3) {
            throw new IllegalArgumentException("expected " + (n * 3) + " RGB bytes, got " + rgb.length);
        }
        if (dst.capacity() < contract.inputBytes()) {
            throw new IllegalArgumentException("input buffer holds " + dst.capacity() + " bytes, need " + contract.inputBytes());
        }
        dst.clear();
        boolean bgr = "BGR".equals(contract.channelOrder);
        float[] mean = contract.mean;
        float[] std = contract.std;
        TensorSpec in = contract.input;
        for (int i = 0; i < n; i++) {
            for (int c = 0; c < 3; c++) {
                int src = bgr ? 2 - c : c;
                float x = normalize(rgb[3 * i + src] & 0xFF, mean[c], std[c]);
                if (in.isQuantized()) {
                    dst.put((byte) quantize(x, in));
                } else {
                    dst.putFloat(x);
                }
            }
        }
        dst.rewind();
    }

    /** (pixel - mean) / std in float32, each operation rounded to float as numpy's float32 arrays do. */
    public static float normalize(int pixel, float mean, float std) {
        float d = (float) pixel - mean;
        return d / std;
    }

    /** clip(round_half_even(x / scale + zero_point)) for a uint8/int8 tensor; the value as an int. */
    public static int quantize(float x, TensorSpec t) {
        float y = x / t.scale + (float) t.zeroPoint;  // float32 ops, like x / np.float32(scale) + np.float32(zp)
        double q = Math.rint(y);                      // numpy's np.round: half to even
        if (q < t.min()) {
            return t.min();
        }
        if (q > t.max()) {
            return t.max();
        }
        return (int) q;
    }
}
