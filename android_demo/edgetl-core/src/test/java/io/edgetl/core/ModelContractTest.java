package io.edgetl.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Arrays;
import org.junit.Test;

public class ModelContractTest {
    @Test
    public void readsEveryField() {
        ModelContract c = ModelContract.parse(Fixtures.contractJson("\"daisy\", \"rose\", \"tulip\"", 96, 128, "BGR",
                "103.939, 116.779, 123.68", "1.0, 1.0, 1.0",
                "\"dtype\": \"int8\", \"scale\": 0.0078125, \"zero_point\": -1", 3, "softmax",
                "\"dtype\": \"uint8\", \"scale\": 0.00390625, \"zero_point\": 0"));
        assertEquals(Arrays.asList("daisy", "rose", "tulip"), c.labels);
        assertEquals(96, c.height);
        assertEquals(128, c.width);
        assertEquals("BGR", c.channelOrder);
        assertArrayEquals(new float[] {103.939f, 116.779f, 123.68f}, c.mean, 0f);
        assertEquals("int8", c.input.dtype);
        assertEquals(0.0078125f, c.input.scale, 0f);
        assertEquals(-1, c.input.zeroPoint);
        assertTrue(c.input.isQuantized());
        assertEquals("uint8", c.output.dtype);
        assertEquals("softmax", c.activation);
        assertEquals(96 * 128 * 3, c.inputBytes());
        assertEquals(3, c.outputBytes());
        assertEquals("tflite:test", c.artifact);
    }

    @Test
    public void floatModelNeedsFourBytesPerValue() {
        ModelContract c = Fixtures.floatModel("none");
        assertFalse(c.input.isQuantized());
        assertEquals(2 * 2 * 3 * 4, c.inputBytes());
        assertEquals(3 * 4, c.outputBytes());
    }

    @Test
    public void labelsCountMustMatchOutputUnits() {
        try {
            ModelContract.parse(Fixtures.contractJson("\"a\", \"b\"", 2, 2, "RGB", "0, 0, 0", "1, 1, 1",
                    Fixtures.FLOAT, 3, "none", Fixtures.FLOAT));
            fail("2 labels for 3 units accepted");
        } catch (ContractException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("2 labels but the model outputs 3"));
        }
    }

    @Test
    public void oneUnitMeansTwoLabels() {
        ModelContract c = ModelContract.parse(Fixtures.contractJson("\"cat\", \"dog\"", 2, 2, "RGB", "0, 0, 0",
                "1, 1, 1", Fixtures.FLOAT, 1, "sigmoid", Fixtures.FLOAT));
        assertEquals(2, c.numClasses());
        try {
            ModelContract.parse(Fixtures.contractJson("\"cat\"", 2, 2, "RGB", "0, 0, 0", "1, 1, 1",
                    Fixtures.FLOAT, 1, "sigmoid", Fixtures.FLOAT));
            fail("1 label for a binary unit accepted");
        } catch (ContractException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("1 labels"));
        }
    }

    @Test
    public void labelsFileMustMatchContract() {
        ModelContract c = Fixtures.floatModel("none");
        c.checkLabels(Labels.parse("a\nb\nc\n\n"));
        try {
            c.checkLabels(Labels.parse("a\nb\n"));
            fail("2-line labels.txt accepted for 3 labels");
        } catch (ContractException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("labels.txt has 2 labels but model.json has 3"));
        }
        try {
            c.checkLabels(Labels.parse("a\nc\nb"));
            fail("reordered labels accepted");
        } catch (ContractException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("line 2"));
        }
    }

    @Test
    public void rejectsWrongFormatAndFields() {
        String good = Fixtures.contractJson("\"a\", \"b\", \"c\"", 2, 2, "RGB", "0, 0, 0", "1, 1, 1",
                Fixtures.FLOAT, 3, "none", Fixtures.FLOAT);
        String[] bad = {
            good.replace("edgetl-contract/1", "edgetl-contract/9"),
            good.replace("\"height\": 2", "\"height\": \"2\""),
            good.replace("stretch-bilinear-topleft-int5", "area"),
            good.replace("\"activation\": \"none\"", "\"activation\": \"relu\""),
            good.replace("\"std\": [1, 1, 1]", "\"std\": [1, 0, 1]"),
            good.replace("\"mean\": [0, 0, 0]", "\"mean\": [0, 0]"),
            good.replace("\"dtype\": \"float32\"\n  },\n  \"output\"", "\"dtype\": \"uint8\"\n  },\n  \"output\""),
            "[1, 2]",
        };
        for (String s : bad) {
            assertFalse("fixture edit did not apply", s.equals(good));
            try {
                ModelContract.parse(s);
                fail("accepted a bad contract:\n" + s);
            } catch (ContractException e) {
                assertTrue(e.getMessage(), e.getMessage().contains("model.json"));
            }
        }
    }

    @Test
    public void realTensorsMustMatchContract() {
        ModelContract c = Fixtures.uint8Model(0.0078125, 128, 0.00390625, 0, "none");
        TensorSpec in = new TensorSpec("uint8", 0.0078125f, 128);
        TensorSpec out = new TensorSpec("uint8", 0.00390625f, 0);
        c.checkTensors(new int[] {1, 2, 2, 3}, in, new int[] {1, 3}, out);
        Object[][] wrong = {
            {new int[] {1, 4, 4, 3}, in, new int[] {1, 3}, out, "takes input"},
            {new int[] {1, 2, 2, 3}, new TensorSpec("uint8", 0.0078125f, 127), new int[] {1, 3}, out, "input is"},
            {new int[] {1, 2, 2, 3}, new TensorSpec("float32", 0f, 0), new int[] {1, 3}, out, "input is"},
            {new int[] {1, 2, 2, 3}, in, new int[] {1, 5}, out, "5 units"},
            {new int[] {1, 2, 2, 3}, in, new int[] {1, 3}, new TensorSpec("uint8", 0.5f, 0), "output is"},
        };
        for (Object[] w : wrong) {
            try {
                c.checkTensors((int[]) w[0], (TensorSpec) w[1], (int[]) w[2], (TensorSpec) w[3]);
                fail("mismatch accepted: " + w[4]);
            } catch (ContractException e) {
                assertTrue(e.getMessage(), e.getMessage().contains((String) w[4]));
            }
        }
    }

    @Test
    public void labelsParsingMirrorsPython() {
        assertEquals(Arrays.asList("a", "b c", "", "d"), Labels.parse(" a \r\nb c\r\n\nd\n\n  \n"));
        assertEquals(Arrays.asList("x"), Labels.parse("x"));
        assertTrue(Labels.parse("\n\n").isEmpty());
    }
}
