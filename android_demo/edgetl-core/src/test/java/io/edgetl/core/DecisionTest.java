package io.edgetl.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Arrays;
import java.util.List;
import org.junit.Test;

/** The contract's binary decision (model.json "decision"), applied like edgetl.metrics.decide. */
public class DecisionTest {
    /** A two-label model.json ("NORMAL", "PNEUMONIA") with {@code decision} (a JSON object text, or null). */
    private static String json(String labels, int units, String activation, String decision) {
        String base = Fixtures.contractJson(labels, 2, 2, "RGB", "0, 0, 0", "1, 1, 1", Fixtures.FLOAT, units,
                activation, Fixtures.FLOAT);
        if (decision == null) {
            return base;
        }
        String tail = "\"weights_source\": null\n}\n";
        assertTrue(base.endsWith(tail));
        return base.substring(0, base.length() - tail.length()) + "\"weights_source\": null,\n  \"decision\": " + decision + "\n}\n";
    }

    private static ModelContract xray(String decision) {
        return ModelContract.parse(json("\"NORMAL\", \"PNEUMONIA\"", 1, "sigmoid", decision));
    }

    private static void refused(String text, String needle) {
        try {
            ModelContract.parse(text);
            fail("accepted: " + needle);
        } catch (ContractException e) {
            assertTrue(e.getMessage(), e.getMessage().contains(needle));
        }
    }

    @Test
    public void decisionIsParsed() {
        ModelContract c = xray("{\"positive_label\": \"PNEUMONIA\", \"threshold\": 0.31}");
        assertTrue(c.hasDecision());
        assertEquals("PNEUMONIA", c.positiveLabel);
        assertEquals(1, c.positiveIndex());
        assertEquals(0.31f, c.threshold, 0f);
    }

    @Test
    public void withoutADecisionTheTopClassWins() {
        ModelContract c = xray(null);
        assertFalse(c.hasDecision());
        assertEquals(-1, c.positiveIndex());
        OutputDecoder dec = new OutputDecoder(c);
        assertEquals(0, dec.decide(new float[] {0.6f, 0.4f}));
        assertEquals(1, dec.decide(new float[] {0.4f, 0.6f}));
        assertEquals(0, dec.decide(new float[] {0.5f, 0.5f}));  // numpy's argmax: the first on ties
        assertEquals(dec.topK(new float[] {0.4f, 0.6f}, 2).get(0).index, dec.classify(new float[] {0.4f, 0.6f}, 2).get(0).index);
    }

    @Test
    public void noPositiveLabelMeansTheSecondClass() {
        ModelContract c = xray("{\"positive_label\": null, \"threshold\": 0.2}");
        assertEquals("PNEUMONIA", c.positiveLabel);
        assertEquals(1, new OutputDecoder(c).decide(new float[] {0.75f, 0.25f}));
    }

    @Test
    public void positiveIffItsProbabilityReachesTheThreshold() {
        OutputDecoder dec = new OutputDecoder(xray("{\"positive_label\": \"PNEUMONIA\", \"threshold\": 0.31}"));
        assertEquals(1, dec.decide(new float[] {0.69f, 0.31f}));  // equal: positive (>=)
        assertEquals(0, dec.decide(new float[] {0.7f, Math.nextDown(0.31f)}));
        assertEquals(1, dec.decide(new float[] {0.6f, 0.4f}));    // below 0.5 but above the threshold
        // through the decoder: a sigmoid logit of log(0.4/0.6) is p = 0.4
        float[] p = dec.probabilitiesFromFloats(new float[] {(float) Math.log(0.4 / 0.6)});
        assertEquals(1, dec.decide(p));
    }

    @Test
    public void thresholdIsComparedInFloat32LikeNumpy() {
        // float32(0.7) < 0.7 as a double; numpy compares float32 probabilities with float32(0.7): positive
        assertTrue((double) 0.7f < 0.7);
        OutputDecoder dec = new OutputDecoder(xray("{\"positive_label\": \"PNEUMONIA\", \"threshold\": 0.7}"));
        assertEquals(1, dec.decide(new float[] {0.3f, 0.7f}));
    }

    @Test
    public void thePositiveClassMayBeTheFirstLabel() {
        ModelContract c = ModelContract.parse(json("\"ill\", \"well\"", 2, "softmax",
                "{\"positive_label\": \"ill\", \"threshold\": 0.1}"));
        assertEquals(0, c.positiveIndex());
        OutputDecoder dec = new OutputDecoder(c);
        assertEquals(0, dec.decide(new float[] {0.15f, 0.85f}));
        assertEquals(1, dec.decide(new float[] {0.05f, 0.95f}));
        assertEquals(1, dec.decide(new float[] {0f, 1f}));
    }

    @Test
    public void classifyReportsTheDecidedClassFirst() {
        OutputDecoder dec = new OutputDecoder(xray("{\"positive_label\": \"PNEUMONIA\", \"threshold\": 0.31}"));
        float[] p = {0.65f, 0.35f};
        List<Recognition> shown = dec.classify(p, 2);
        assertEquals(Arrays.asList("PNEUMONIA", "NORMAL"), Arrays.asList(shown.get(0).label, shown.get(1).label));
        assertEquals(0.35f, shown.get(0).score, 0f);
        assertEquals("NORMAL", dec.topK(p, 1).get(0).label);  // topK stays a plain ranking
        assertEquals(1, dec.classify(p, 1).size());
        assertEquals("PNEUMONIA", dec.classify(p, 1).get(0).label);
        assertEquals("NORMAL", dec.classify(new float[] {0.7f, 0.3f}, 1).get(0).label);
    }

    @Test
    public void aDecisionSurvivesTheMetadataMerge() {
        // ModelAssets rebuilds the contract with labels/normalisation from the TFLite metadata
        ModelContract c = xray("{\"positive_label\": \"PNEUMONIA\", \"threshold\": 0.31}");
        ModelContract merged = new ModelContract(c.labels, c.height, c.width, c.channelOrder, c.mean, c.std, c.input,
                c.output, c.outputUnits, c.activation, c.artifact, c.positiveLabel, c.threshold);
        assertEquals(1, new OutputDecoder(merged).decide(new float[] {0.65f, 0.35f}));
        try {
            new ModelContract(Arrays.asList("a", "b"), c.height, c.width, c.channelOrder, c.mean, c.std, c.input,
                    c.output, c.outputUnits, c.activation, c.artifact, c.positiveLabel, c.threshold);
            fail("positive label not among the labels");
        } catch (ContractException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("'PNEUMONIA' is not one of the labels"));
        }
    }

    @Test
    public void badDecisionsAreRefused() {
        refused(json("\"NORMAL\", \"PNEUMONIA\"", 1, "sigmoid", "{\"positive_label\": \"COVID\", \"threshold\": 0.3}"),
                "'COVID' is not one of the labels");
        refused(json("\"NORMAL\", \"PNEUMONIA\"", 1, "sigmoid", "{\"positive_label\": \"PNEUMONIA\", \"threshold\": 1.5}"),
                "expected a probability in [0, 1]");
        refused(json("\"NORMAL\", \"PNEUMONIA\"", 1, "sigmoid", "{\"positive_label\": \"PNEUMONIA\"}"), "'threshold'");
        refused(json("\"NORMAL\", \"PNEUMONIA\"", 1, "sigmoid", "0.3"), "'decision' must be an object");
        refused(json("\"a\", \"b\", \"c\"", 3, "softmax", "{\"positive_label\": \"b\", \"threshold\": 0.3}"),
                "two-class models");
    }
}
