package io.edgetl.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import java.nio.ByteBuffer;
import java.util.List;
import org.junit.Test;

public class OutputDecoderTest {
    private static ModelContract binary(String activation, String outputTensor) {
        return ModelContract.parse(Fixtures.contractJson("\"cat\", \"dog\"", 2, 2, "RGB", "0, 0, 0", "1, 1, 1",
                Fixtures.FLOAT, 1, activation, outputTensor));
    }

    @Test
    public void quantizedOutputIsDequantized() {
        ModelContract c = Fixtures.uint8Model(0.0078125, 128, 0.5, 128, "none");
        OutputDecoder dec = new OutputDecoder(c);
        ByteBuffer out = dec.allocate();
        out.put(0, (byte) 130).put(1, (byte) 128).put(2, (byte) 255);
        assertArrayEquals(new float[] {1f, 0f, 63.5f}, dec.probabilities(out), 0f);
        assertEquals(-64f, OutputDecoder.dequantize(0, c.output), 0f);
        TensorSpec i8 = new TensorSpec("int8", 0.25f, -3);
        assertEquals(0.5f, OutputDecoder.dequantize(-1, i8), 0f);
    }

    @Test
    public void int8OutputBytesAreSigned() {
        ModelContract c = ModelContract.parse(Fixtures.contractJson("\"a\", \"b\", \"c\"", 2, 2, "RGB", "0, 0, 0",
                "1, 1, 1", Fixtures.FLOAT, 3, "none", "\"dtype\": \"int8\", \"scale\": 0.00390625, \"zero_point\": -128"));
        OutputDecoder dec = new OutputDecoder(c);
        ByteBuffer out = dec.allocate();
        out.put(0, (byte) -128).put(1, (byte) 127).put(2, (byte) 0);
        assertArrayEquals(new float[] {0f, 255f / 256f, 0.5f}, dec.probabilities(out), 0f);
    }

    @Test
    public void softmaxGivesNormalisedProbabilities() {
        OutputDecoder dec = new OutputDecoder(Fixtures.floatModel("softmax"));
        float[] p = dec.probabilitiesFromFloats(new float[] {0f, (float) Math.log(2), (float) Math.log(4)});
        assertArrayEquals(new float[] {1f / 7f, 2f / 7f, 4f / 7f}, p, 1e-6f);
        // large logits must not overflow
        p = dec.probabilitiesFromFloats(new float[] {1000f, 1000f, 0f});
        assertArrayEquals(new float[] {0.5f, 0.5f, 0f}, p, 1e-6f);
    }

    @Test
    public void floatOutputBufferIsReadInNativeOrder() {
        OutputDecoder dec = new OutputDecoder(Fixtures.floatModel("none"));
        ByteBuffer out = dec.allocate();
        out.putFloat(0, 0.25f).putFloat(4, 0.5f).putFloat(8, 0.25f);
        assertArrayEquals(new float[] {0.25f, 0.5f, 0.25f}, dec.probabilities(out), 0f);
    }

    @Test
    public void oneSigmoidUnitIsTheProbabilityOfTheSecondLabel() {
        OutputDecoder dec = new OutputDecoder(binary("sigmoid", Fixtures.FLOAT));
        assertArrayEquals(new float[] {0.5f, 0.5f}, dec.probabilitiesFromFloats(new float[] {0f}), 0f);
        float[] p = dec.probabilitiesFromFloats(new float[] {(float) Math.log(3)});
        assertArrayEquals(new float[] {0.25f, 0.75f}, p, 1e-6f);
        List<Recognition> top = dec.topK(p, 3);
        assertEquals(2, top.size());
        assertEquals("dog", top.get(0).label);
        assertEquals(0.75f, top.get(0).score, 1e-6f);
        assertEquals("cat", top.get(1).label);
    }

    @Test
    public void oneUnitWithoutActivationIsAlreadyAProbability() {
        OutputDecoder dec = new OutputDecoder(binary("none", "\"dtype\": \"uint8\", \"scale\": 0.00390625, \"zero_point\": 0"));
        float[] p = dec.probabilitiesFromQuantized(new int[] {192});
        assertArrayEquals(new float[] {0.25f, 0.75f}, p, 0f);
    }

    @Test
    public void topKIsBestFirstAndStableOnTies() {
        ModelContract c = ModelContract.parse(Fixtures.contractJson("\"a\", \"b\", \"c\", \"d\"", 2, 2, "RGB",
                "0, 0, 0", "1, 1, 1", Fixtures.FLOAT, 4, "none", Fixtures.FLOAT));
        OutputDecoder dec = new OutputDecoder(c);
        List<Recognition> top = dec.topK(new float[] {0.2f, 0.5f, 0.2f, 0.1f}, 3);
        assertEquals("b", top.get(0).label);
        assertEquals("a", top.get(1).label);
        assertEquals("c", top.get(2).label);
        assertEquals(2, top.get(2).index);
        assertEquals(0.2f, top.get(2).score, 0f);
        assertEquals(4, dec.topK(new float[] {0.1f, 0.2f, 0.3f, 0.4f}, 10).size());
        assertEquals("d", dec.topK(new float[] {0.1f, 0.2f, 0.3f, 0.4f}, 1).get(0).label);
    }
}
