package io.edgetl.core;

import java.nio.ByteBuffer;

/**
 * Getting interleaved RGB bytes out of what Android hands over: ARGB ints (Bitmap.getPixels) or an
 * RGBA_8888 plane (CameraX ImageAnalysis with OUTPUT_IMAGE_FORMAT_RGBA_8888), plus the rotation the
 * camera reports. Decoding files (JPEG, ...) is the platform's job: the contract starts at RGB pixels.
 */
public final class Pixels {
    private Pixels() {
    }

    /** ARGB_8888 ints, row-major, as {@code Bitmap.getPixels} returns them -> RGB bytes (alpha dropped). */
    public static byte[] rgbFromArgb(int[] argb, int width, int height) {
        if (argb.length < width * height) {
            throw new IllegalArgumentException("ARGB buffer holds " + argb.length + " pixels, need " + (width * height));
        }
        byte[] rgb = new byte[width * height * 3];
        int o = 0;
        for (int i = 0; i < width * height; i++) {
            int p = argb[i];
            rgb[o++] = (byte) ((p >> 16) & 0xFF);
            rgb[o++] = (byte) ((p >> 8) & 0xFF);
            rgb[o++] = (byte) (p & 0xFF);
        }
        return rgb;
    }

    /**
     * An RGBA_8888 plane (4 bytes per pixel, rows {@code rowStride} bytes apart, read from the buffer's
     * position 0) -> RGB bytes.
     */
    public static byte[] rgbFromRgba(ByteBuffer rgba, int width, int height, int rowStride) {
        if (rowStride < width * 4) {
            throw new IllegalArgumentException("rowStride " + rowStride + " is smaller than width * 4");
        }
        byte[] rgb = new byte[width * height * 3];
        byte[] row = new byte[width * 4];
        int o = 0;
        for (int y = 0; y < height; y++) {
            int start = y * rowStride;
            for (int i = 0; i < row.length; i++) {
                row[i] = rgba.get(start + i);
            }
            for (int x = 0; x < width; x++) {
                rgb[o++] = row[4 * x];
                rgb[o++] = row[4 * x + 1];
                rgb[o++] = row[4 * x + 2];
            }
        }
        return rgb;
    }

    /**
     * Rotate RGB bytes clockwise by 0, 90, 180 or 270 degrees (CameraX's rotationDegrees: rotating the
     * frame by it makes it upright). For 90/270 the result is {@code height x width}.
     */
    public static byte[] rotateRgb(byte[] rgb, int width, int height, int degrees) {
        int d = ((degrees % 360) + 360) % 360;
        if (d % 90 != 0) {
            throw new IllegalArgumentException("rotation must be a multiple of 90 degrees, got " + degrees);
        }
        byte[] out = new byte[width * height * 3];
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                int s = (y * width + x) * 3;
                int t = rotatedPixel(x, y, width, height, d) * 3;
                out[t] = rgb[s];
                out[t + 1] = rgb[s + 1];
                out[t + 2] = rgb[s + 2];
            }
        }
        return out;
    }

    /**
     * Where pixel (x, y) of a {@code width x height} frame lands, as a pixel index, in the frame rotated
     * clockwise by {@code d} degrees (0, 90, 180 or 270; for 90/270 the result is {@code height} wide).
     * The one definition of the rotation, shared by {@link #rotateRgb} and {@link RgbFrame}.
     */
    static int rotatedPixel(int x, int y, int width, int height, int d) {
        if (d == 90) {
            return x * height + (height - 1 - y);
        } else if (d == 180) {
            return (height - 1 - y) * width + (width - 1 - x);
        } else if (d == 270) {
            return (width - 1 - x) * height + y;
        }
        return y * width + x;
    }
}
