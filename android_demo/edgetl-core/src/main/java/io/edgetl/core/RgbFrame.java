package io.edgetl.core;

import java.nio.ByteBuffer;

/**
 * A reusable upright RGB copy of camera frames, for a per-frame path without garbage: the RGBA plane is
 * read row by row into one reused row array and written, already rotated, into one reused RGB array.
 * The result is the same as {@code Pixels.rotateRgb(Pixels.rgbFromRgba(...), ...)} (tested), so the
 * camera frame can be released before inference. Arrays grow only when a larger frame arrives.
 * Not thread-safe: one instance per analysis thread.
 */
public final class RgbFrame {
    private byte[] rgb = new byte[0];
    private byte[] row = new byte[0];
    private int width;
    private int height;

    /** The pixels: the first {@code width() * height() * 3} bytes are the upright RGB image. */
    public byte[] rgb() {
        return rgb;
    }

    public int width() {
        return width;
    }

    public int height() {
        return height;
    }

    /**
     * Copy an RGBA_8888 plane ({@code pixelStride} bytes per pixel, rows {@code rowStride} bytes apart,
     * from index 0) and rotate it clockwise by {@code rotationDegrees} (CameraX's rotationDegrees).
     * The buffer's position is restored.
     */
    public void setFromRgba(ByteBuffer rgba, int srcWidth, int srcHeight, int rowStride, int pixelStride, int rotationDegrees) {
        int d = ((rotationDegrees % 360) + 360) % 360;
        if (d % 90 != 0) {
            throw new IllegalArgumentException("rotation must be a multiple of 90 degrees, got " + rotationDegrees);
        }
        if (srcWidth <= 0 || srcHeight <= 0) {
            throw new IllegalArgumentException("frame size must be positive, got " + srcWidth + "x" + srcHeight);
        }
        if (pixelStride < 4 || rowStride < srcWidth * pixelStride) {
            throw new IllegalArgumentException("pixelStride " + pixelStride + " / rowStride " + rowStride
                    + " do not fit an RGBA frame " + srcWidth + " pixels wide");
        }
        int rowBytes = (srcWidth - 1) * pixelStride + 4;
        if (rgba.capacity() < (srcHeight - 1) * rowStride + rowBytes) {
            throw new IllegalArgumentException("RGBA plane holds " + rgba.capacity() + " bytes, too few for "
                    + srcWidth + "x" + srcHeight + " with rowStride " + rowStride);
        }
        ensure(srcWidth * srcHeight * 3, rowBytes);
        boolean swap = d == 90 || d == 270;
        int outW = swap ? srcHeight : srcWidth;
        int saved = rgba.position();
        for (int y = 0; y < srcHeight; y++) {
            rgba.position(y * rowStride);
            rgba.get(row, 0, rowBytes);
            for (int x = 0; x < srcWidth; x++) {
                int s = x * pixelStride;
                int t = Pixels.rotatedPixel(x, y, srcWidth, srcHeight, d) * 3;
                rgb[t] = row[s];
                rgb[t + 1] = row[s + 1];
                rgb[t + 2] = row[s + 2];
            }
        }
        rgba.position(saved);
        width = outW;
        height = swap ? srcWidth : srcHeight;
    }

    /** ARGB_8888 ints (Bitmap.getPixels), already upright. */
    public void setFromArgb(int[] argb, int srcWidth, int srcHeight) {
        if (srcWidth <= 0 || srcHeight <= 0 || argb.length < srcWidth * srcHeight) {
            throw new IllegalArgumentException("ARGB buffer holds " + argb.length + " pixels, need " + (srcWidth * srcHeight));
        }
        ensure(srcWidth * srcHeight * 3, 0);
        int o = 0;
        for (int i = 0; i < srcWidth * srcHeight; i++) {
            int p = argb[i];
            rgb[o++] = (byte) ((p >> 16) & 0xFF);
            rgb[o++] = (byte) ((p >> 8) & 0xFF);
            rgb[o++] = (byte) (p & 0xFF);
        }
        width = srcWidth;
        height = srcHeight;
    }

    private void ensure(int rgbBytes, int rowBytes) {
        if (rgb.length < rgbBytes) {
            rgb = new byte[rgbBytes];
        }
        if (row.length < rowBytes) {
            row = new byte[rowBytes];
        }
    }
}
