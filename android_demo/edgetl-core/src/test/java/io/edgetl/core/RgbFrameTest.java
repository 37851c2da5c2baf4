package io.edgetl.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertSame;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Random;
import org.junit.Test;

public class RgbFrameTest {
    /** An RGBA plane with padded rows, as CameraX hands them over. */
    private static ByteBuffer plane(int w, int h, int rowStride, long seed) {
        byte[] bytes = new byte[rowStride * h];
        new Random(seed).nextBytes(bytes);
        return ByteBuffer.allocateDirect(bytes.length).put(bytes);
    }

    @Test
    public void equalsPixelsCopyThenRotateForEveryRotation() {
        int w = 7;
        int h = 5;
        int stride = w * 4 + 12;
        RgbFrame frame = new RgbFrame();
        for (int rotation : new int[] {0, 90, 180, 270, -90}) {
            ByteBuffer rgba = plane(w, h, stride, rotation);
            rgba.position(3);
            byte[] expected = Pixels.rotateRgb(Pixels.rgbFromRgba(rgba, w, h, stride), w, h, rotation);
            frame.setFromRgba(rgba, w, h, stride, 4, rotation);
            boolean swap = rotation == 90 || rotation == 270 || rotation == -90;
            assertEquals(swap ? h : w, frame.width());
            assertEquals(swap ? w : h, frame.height());
            assertArrayEquals(expected, Arrays.copyOf(frame.rgb(), w * h * 3));
            assertEquals("the plane's position is restored", 3, rgba.position());
        }
    }

    @Test
    public void reusesItsArraysForFramesOfTheSameOrSmallerSize() {
        RgbFrame frame = new RgbFrame();
        frame.setFromRgba(plane(8, 6, 32, 1), 8, 6, 32, 4, 90);
        byte[] first = frame.rgb();
        frame.setFromRgba(plane(8, 6, 32, 2), 8, 6, 32, 4, 0);
        assertSame(first, frame.rgb());
        frame.setFromRgba(plane(4, 4, 16, 3), 4, 4, 16, 4, 0);
        assertSame(first, frame.rgb());
    }

    @Test
    public void argbMatchesPixels() {
        int[] argb = {0xFF102030, 0x80405060, 0x00708090, 0xFFFFFFFF};
        RgbFrame frame = new RgbFrame();
        frame.setFromArgb(argb, 2, 2);
        assertArrayEquals(Pixels.rgbFromArgb(argb, 2, 2), Arrays.copyOf(frame.rgb(), 12));
    }

    @Test(expected = IllegalArgumentException.class)
    public void refusesARowStrideTooSmallForTheWidth() {
        new RgbFrame().setFromRgba(plane(4, 2, 12, 0), 4, 2, 12, 4, 0);
    }

    @Test(expected = IllegalArgumentException.class)
    public void refusesAPlaneTooSmallForTheFrame() {
        new RgbFrame().setFromRgba(plane(4, 2, 16, 0), 4, 3, 16, 4, 0);
    }
}
