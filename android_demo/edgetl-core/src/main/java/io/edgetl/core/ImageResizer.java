package io.edgetl.core;

/**
 * The resize MediaPipe Tasks' ImageClassifier applies (the whole image stretched to the tensor, no crop;
 * OpenCV warpPerspective INTER_LINEAR, BORDER_REPLICATE) in integer arithmetic: output pixel i samples
 * source position {@code i * nIn / nOut} (top-left aligned) in 1/32 pixel, bilinear with 5-bit weights per
 * axis, edges replicated. Byte for byte the same as {@code edgetl.data.images.resize_rgb}, so the phone
 * feeds the model the pixels the model was trained and evaluated on, and MediaPipe feeds it the same.
 * Keep both in step (docs/clients.md).
 */
public final class ImageResizer {
    /** The contract's {@code input.resize} this class implements ({@code edgetl.data.images.RESIZE_METHOD}). */
    public static final String METHOD = "stretch-bilinear-topleft-int5";
    static final int FRAC_BITS = 5;
    static final int ONE = 1 << FRAC_BITS;

    private ImageResizer() {
    }

    /** Source indices (i0, i1) and 5-bit weights of each output index (edgetl.data.images._axis_weights). */
    static final class Axis {
        final int[] i0;
        final int[] i1;
        final int[] frac;

        Axis(int nIn, int nOut) {
            i0 = new int[nOut];
            i1 = new int[nOut];
            frac = new int[nOut];
            for (int i = 0; i < nOut; i++) {
                long pos = (2L * i * nIn * ONE + nOut) / (2L * nOut);  // i * nIn / nOut in 1/32 px, half up
                int a = (int) Math.min(pos >> FRAC_BITS, nIn - 1);
                i0[i] = a;
                i1[i] = Math.min(a + 1, nIn - 1);  // past the edge: the edge (BORDER_REPLICATE)
                frac[i] = (int) (pos & (ONE - 1));
            }
        }
    }

    /**
     * Resize interleaved RGB bytes (row-major, {@code srcHeight x srcWidth x 3}) to {@code height x width x 3}.
     * Bytes are read as unsigned 0..255. Allocates the result; per frame, use {@link #resizeRgbInto}.
     */
    public static byte[] resizeRgb(byte[] src, int srcWidth, int srcHeight, int width, int height) {
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException("image sizes must be positive");
        }
        byte[] out = new byte[width * height * 3];
        resizeRgbInto(src, srcWidth, srcHeight, width, height, out);
        return out;
    }

    /**
     * {@link #resizeRgb} into the caller's {@code dst} (its first {@code width * height * 3} bytes; a larger
     * array is allowed, the rest is left alone), so a camera frame path can reuse one array. Same bytes.
     */
    public static void resizeRgbInto(byte[] src, int srcWidth, int srcHeight, int width, int height, byte[] dst) {
        if (srcWidth <= 0 || srcHeight <= 0 || width <= 0 || height <= 0) {
            throw new IllegalArgumentException("image sizes must be positive");
        }
        if (src.length < srcWidth * srcHeight * 3) {
            throw new IllegalArgumentException("RGB buffer holds " + src.length + " bytes, need " + (srcWidth * srcHeight * 3));
        }
        if (dst == src) {
            throw new IllegalArgumentException("resizeRgbInto cannot write into its source array");
        }
        if (dst.length < width * height * 3) {
            throw new IllegalArgumentException("output buffer holds " + dst.length + " bytes, need " + (width * height * 3));
        }
        if (srcWidth == width && srcHeight == height) {
            System.arraycopy(src, 0, dst, 0, width * height * 3);
            return;
        }
        Axis ys = new Axis(srcHeight, height);
        Axis xs = new Axis(srcWidth, width);
        byte[] out = dst;
        int rowBytes = srcWidth * 3;
        int round = 1 << (2 * FRAC_BITS - 1);
        int o = 0;
        for (int y = 0; y < height; y++) {
            int r0 = ys.i0[y] * rowBytes;
            int r1 = ys.i1[y] * rowBytes;
            int fy = ys.frac[y];
            for (int x = 0; x < width; x++) {
                int c0 = xs.i0[x] * 3;
                int c1 = xs.i1[x] * 3;
                int fx = xs.frac[x];
                for (int c = 0; c < 3; c++) {
                    int top = (src[r0 + c0 + c] & 0xFF) * (ONE - fx) + (src[r0 + c1 + c] & 0xFF) * fx;
                    int bot = (src[r1 + c0 + c] & 0xFF) * (ONE - fx) + (src[r1 + c1 + c] & 0xFF) * fx;
                    // at most 255 * 2^10 + 2^9: fits an int
                    int val = top * (ONE - fy) + bot * fy;
                    int v = (val + round) >> (2 * FRAC_BITS);
                    out[o++] = (byte) (v < 0 ? 0 : (v > 255 ? 255 : v));
                }
            }
        }
    }
}
