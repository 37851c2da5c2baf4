package io.edgetl.core;

/**
 * Bilinear resize (half-pixel centres, edge clamp) in 11-bit fixed point, integer arithmetic only:
 * byte for byte the same as {@code edgetl.imageops.resize_rgb}, so the phone feeds the model the pixels
 * the model was trained and evaluated on. Keep both in step.
 */
public final class ImageResizer {
    static final int FRAC_BITS = 11;
    static final int ONE = 1 << FRAC_BITS;

    private ImageResizer() {
    }

    /** Source indices (i0, i1) and 11-bit weights of each output index (edgetl.imageops._axis_weights). */
    static final class Axis {
        final int[] i0;
        final int[] i1;
        final int[] frac;

        Axis(int nIn, int nOut) {
            i0 = new int[nOut];
            i1 = new int[nOut];
            frac = new int[nOut];
            for (int i = 0; i < nOut; i++) {
                long num = (2L * i + 1) * nIn - nOut;  // 2*nOut * ((i + 0.5) * nIn / nOut - 0.5)
                if (num < 0) {
                    num = 0;
                }
                long pos = (num * ONE) / (2L * nOut);
                int a = (int) (pos >> FRAC_BITS);
                int f = (int) (pos & (ONE - 1));
                if (a >= nIn - 1) {
                    i0[i] = nIn - 1;
                    i1[i] = nIn - 1;
                    frac[i] = 0;
                } else {
                    i0[i] = a;
                    i1[i] = a + 1;
                    frac[i] = f;
                }
            }
        }
    }

    /**
     * Resize interleaved RGB bytes (row-major, {@code srcHeight x srcWidth x 3}) to {@code height x width x 3}.
     * Bytes are read as unsigned 0..255.
     */
    public static byte[] resizeRgb(byte[] src, int srcWidth, int srcHeight, int width, int height) {
        if (srcWidth <= 0 || srcHeight <= 0 || width <= 0 || height <= 0) {
            throw new IllegalArgumentException("image sizes must be positive");
        }
        if (src.length < srcWidth * srcHeight * 3) {
            throw new IllegalArgumentException("RGB buffer holds " + src.length + " bytes, need " + (srcWidth * srcHeight * 3));
        }
        if (srcWidth == width && srcHeight == height) {
            byte[] copy = new byte[width * height * 3];
            System.arraycopy(src, 0, copy, 0, copy.length);
            return copy;
        }
        Axis ys = new Axis(srcHeight, height);
        Axis xs = new Axis(srcWidth, width);
        byte[] out = new byte[width * height * 3];
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
                    // at most 255 * 2^22 + 2^21 < 2^31: fits an int
                    int val = top * (ONE - fy) + bot * fy;
                    int v = (val + round) >> (2 * FRAC_BITS);
                    out[o++] = (byte) (v < 0 ? 0 : (v > 255 ? 255 : v));
                }
            }
        }
        return out;
    }
}
