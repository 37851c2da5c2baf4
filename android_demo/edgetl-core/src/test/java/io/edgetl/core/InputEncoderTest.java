package io.edgetl.core;

import static org.junit.Assert.assertEquals;

import java.nio.ByteBuffer;
import org.junit.Test;

public class InputEncoderTest {
    private static ModelContract contract(String order, String mean, String std, String inputTensor) {
        return ModelContract.parse(Fixtures.contractJson("\"a\", \"b\"", 1, 2, order, mean, std, inputTensor, 2,
                "softmax", Fixtures.FLOAT));
    }

    private static ByteBuffer encode(ModelContract c, int... rgb) {
        byte[] px = new byte[rgb.length];
        for (int i = 0; i < rgb.length; i++) {
            px[i] = (byte) rgb[i];
        }
        InputEncoder enc = new InputEncoder(c);
        ByteBuffer buf = enc.allocate();
        enc.encodeResized(px, buf);
        return buf;
    }

    @Test
    public void floatInputIsMeanStdNormalised() {
        ModelContract c = contract("RGB", "127.5, 127.5, 127.5", "127.5, 127.5, 127.5", Fixtures.FLOAT);
        ByteBuffer b = encode(c, 0, 255, 128, 64, 191, 127);
        assertEquals(-1f, b.getFloat(0), 0f);
        assertEquals(1f, b.getFloat(4), 0f);
        assertEquals(0.5f / 127.5f, b.getFloat(8), 0f);
        assertEquals((64f - 127.5f) / 127.5f, b.getFloat(12), 0f);
        assertEquals(-0.5f / 127.5f, b.getFloat(20), 0f);
    }

    @Test
    public void perChannelMeanStdAndBgrOrder() {
        ModelContract rgb = contract("RGB", "0, 100, 200", "1, 2, 4", Fixtures.FLOAT);
        ByteBuffer b = encode(rgb, 10, 110, 210, 0, 0, 0);
        assertEquals(10f, b.getFloat(0), 0f);
        assertEquals(5f, b.getFloat(4), 0f);
        assertEquals(2.5f, b.getFloat(8), 0f);
        assertEquals(-50f, b.getFloat(20), 0f);
        // BGR: the first model channel is blue, normalised with the first mean/std
        ModelContract bgr = contract("BGR", "0, 100, 200", "1, 2, 4", Fixtures.FLOAT);
        b = encode(bgr, 10, 110, 210, 0, 0, 0);
        assertEquals(210f, b.getFloat(0), 0f);           // blue, (210 - 0) / 1
        assertEquals(5f, b.getFloat(4), 0f);             // green, (110 - 100) / 2
        assertEquals(-47.5f, b.getFloat(8), 0f);         // red, (10 - 200) / 4
    }

    @Test
    public void uint8InputUsesScaleZeroPointAndRoundsHalfToEven() {
        // mean 0, std 1 -> x = pixel; q = round(x / 2 + 3)
        ModelContract c = contract("RGB", "0, 0, 0", "1, 1, 1", "\"dtype\": \"uint8\", \"scale\": 2.0, \"zero_point\": 3");
        ByteBuffer b = encode(c, 1, 3, 5, 0, 255, 254);
        assertEquals(4, b.get(0) & 0xFF);   // 3.5 -> 4
        assertEquals(4, b.get(1) & 0xFF);   // 4.5 -> 4 (half to even, not 5)
        assertEquals(6, b.get(2) & 0xFF);   // 5.5 -> 6
        assertEquals(3, b.get(3) & 0xFF);
        assertEquals(130, b.get(4) & 0xFF); // 130.5 -> 130
        assertEquals(130, b.get(5) & 0xFF);
        assertEquals(6, c.inputBytes());
    }

    @Test
    public void quantisedInputClipsToTheDtypeRange() {
        TensorSpec u8 = new TensorSpec("uint8", 0.0078125f, 128);
        assertEquals(0, InputEncoder.quantize(-1f, u8));
        assertEquals(255, InputEncoder.quantize(1f, u8));   // 256 clipped
        assertEquals(0, InputEncoder.quantize(-5f, u8));
        TensorSpec i8 = new TensorSpec("int8", 0.0078125f, -1);
        assertEquals(-128, InputEncoder.quantize(-1f, i8)); // -129 clipped
        assertEquals(127, InputEncoder.quantize(1f, i8));
        assertEquals(-1, InputEncoder.quantize(0f, i8));
        ModelContract c = contract("RGB", "127.5, 127.5, 127.5", "127.5, 127.5, 127.5",
                "\"dtype\": \"int8\", \"scale\": 0.0078125, \"zero_point\": -1");
        ByteBuffer b = encode(c, 0, 255, 128, 0, 0, 0);
        assertEquals(-128, b.get(0));
        assertEquals(127, b.get(1));
        assertEquals(0, b.get(2));         // 0.5/127.5/0.0078125 - 1 = -0.498 -> 0
    }

    @Test
    public void encodeResizesFirst() {
        ModelContract c = contract("RGB", "0, 0, 0", "1, 1, 1", Fixtures.FLOAT);  // 1 x 2 model input
        byte[] big = new byte[4 * 1 * 3];
        for (int i = 0; i < big.length; i++) {
            big[i] = (byte) (i / 3 < 2 ? 10 : 30);  // two columns of 10, two of 30
        }
        InputEncoder enc = new InputEncoder(c);
        ByteBuffer buf = enc.allocate();
        enc.encode(big, 4, 1, buf);
        assertEquals(10f, buf.getFloat(0), 0f);
        assertEquals(30f, buf.getFloat(12), 0f);
    }
}
