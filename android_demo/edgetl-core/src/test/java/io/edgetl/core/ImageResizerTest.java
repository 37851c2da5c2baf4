package io.edgetl.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import org.junit.Test;

public class ImageResizerTest {
    private static byte[] gray(int... values) {
        byte[] rgb = new byte[values.length * 3];
        for (int i = 0; i < values.length; i++) {
            rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = (byte) values[i];
        }
        return rgb;
    }

    private static int[] channel(byte[] rgb, int c) {
        int[] out = new int[rgb.length / 3];
        for (int i = 0; i < out.length; i++) {
            out[i] = rgb[3 * i + c] & 0xFF;
        }
        return out;
    }

    @Test
    public void sameSizeIsACopy() {
        byte[] src = gray(1, 2, 3, 250);
        byte[] out = ImageResizer.resizeRgb(src, 2, 2, 2, 2);
        assertArrayEquals(src, out);
    }

    @Test
    public void upsampleSamplesFromTheTopLeftAndReplicatesTheEdge() {
        // 2 -> 4 columns: source x = i * 2/4 = 0, 0.5, 1, 1.5 (past the edge: the edge); 127.5 -> 128
        byte[] out = ImageResizer.resizeRgb(gray(0, 255), 2, 1, 4, 1);
        assertArrayEquals(new int[] {0, 128, 255, 255}, channel(out, 0));
        out = ImageResizer.resizeRgb(gray(0, 200), 1, 2, 1, 4);  // same along rows
        assertArrayEquals(new int[] {0, 100, 200, 200}, channel(out, 1));
    }

    @Test
    public void halvingSamplesTheTopLeftPixelOfEachBlock() {
        byte[] src = gray(
                1, 2, 10, 20,
                3, 4, 30, 40,
                0, 0, 255, 255,
                0, 1, 255, 255);
        byte[] out = ImageResizer.resizeRgb(src, 4, 4, 2, 2);
        // source positions 0 and 2 on both axes (MediaPipe's sampling, no averaging)
        assertArrayEquals(new int[] {1, 10, 0, 255}, channel(out, 2));
    }

    @Test
    public void keepsRowsColumnsAndChannelsApart() {
        int w = 5;
        int h = 3;
        byte[] src = new byte[w * h * 3];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int i = 3 * (y * w + x);
                src[i] = (byte) (50 * x);      // R varies along x only
                src[i + 1] = (byte) (100 * y); // G varies along y only
                src[i + 2] = (byte) 7;         // B constant
            }
        }
        int ow = 3;
        int oh = 6;
        byte[] out = ImageResizer.resizeRgb(src, w, h, ow, oh);
        assertEquals(ow * oh * 3, out.length);
        for (int y = 0; y < oh; y++) {
            for (int x = 0; x < ow; x++) {
                int i = 3 * (y * ow + x);
                assertEquals("R depends on x only", out[3 * x] & 0xFF, out[i] & 0xFF);
                assertEquals("G depends on y only", out[3 * ow * y + 1] & 0xFF, out[i + 1] & 0xFF);
                assertEquals(7, out[i + 2] & 0xFF);
            }
        }
        // 5 -> 3 columns: source x = 0, 5/3 ~ 53/32, 10/3 ~ 107/32 -> R = 0, 82.8 -> 83, 167.2 -> 167
        assertArrayEquals(new int[] {0, 83, 167}, new int[] {out[0] & 0xFF, out[3] & 0xFF, out[6] & 0xFF});
    }

    @Test
    public void intoACallersBufferGivesTheSameBytesAndReusesIt() {
        java.util.Random rnd = new java.util.Random(11);
        int[][] sizes = {{640, 480, 224, 224}, {7, 5, 80, 64}, {1000, 13, 17, 31}, {1, 1, 3, 2}, {96, 96, 96, 96}, {480, 640, 96, 96}};
        byte[] dst = new byte[224 * 224 * 3 + 5];  // larger than needed: reused for every size, the tail untouched
        for (int t = 0; t < dst.length; t++) {
            dst[t] = (byte) 0xA5;
        }
        for (int[] s : sizes) {
            byte[] src = new byte[s[0] * s[1] * 3];
            rnd.nextBytes(src);
            byte[] expected = ImageResizer.resizeRgb(src, s[0], s[1], s[2], s[3]);
            ImageResizer.resizeRgbInto(src, s[0], s[1], s[2], s[3], dst);
            assertArrayEquals(java.util.Arrays.toString(s), expected, java.util.Arrays.copyOf(dst, expected.length));
            for (int t = 224 * 224 * 3; t < dst.length; t++) {
                assertEquals((byte) 0xA5, dst[t]);
            }
        }
    }

    @Test(expected = IllegalArgumentException.class)
    public void intoATooSmallBufferIsRefused() {
        ImageResizer.resizeRgbInto(new byte[4 * 4 * 3], 4, 4, 2, 2, new byte[2 * 2 * 3 - 1]);
    }

    @Test
    public void argbAndRgbaGiveTheSameRgb() {
        int[] argb = {0xFF102030, 0x80FFFEFD};
        byte[] rgb = Pixels.rgbFromArgb(argb, 2, 1);
        assertArrayEquals(new byte[] {0x10, 0x20, 0x30, (byte) 0xFF, (byte) 0xFE, (byte) 0xFD}, rgb);
        java.nio.ByteBuffer rgba = java.nio.ByteBuffer.wrap(new byte[] {
            0x10, 0x20, 0x30, (byte) 0xFF, (byte) 0xFF, (byte) 0xFE, (byte) 0xFD, (byte) 0x80, 9, 9});  // row padding
        assertArrayEquals(rgb, Pixels.rgbFromRgba(rgba, 2, 1, 10));
    }

    @Test
    public void rotationMovesCornersClockwise() {
        // 2x1 image [A B] rotated 90 degrees clockwise is a 1x2 column [A; B]
        byte[] src = gray(1, 2, 3, 4, 5, 6);  // width 3, height 2: rows [1 2 3], [4 5 6]
        assertArrayEquals(new int[] {4, 1, 5, 2, 6, 3}, channel(Pixels.rotateRgb(src, 3, 2, 90), 0));
        assertArrayEquals(new int[] {6, 5, 4, 3, 2, 1}, channel(Pixels.rotateRgb(src, 3, 2, 180), 0));
        assertArrayEquals(new int[] {3, 6, 2, 5, 1, 4}, channel(Pixels.rotateRgb(src, 3, 2, 270), 0));
        assertArrayEquals(channel(src, 0), channel(Pixels.rotateRgb(src, 3, 2, 0), 0));
    }
}
