package io.edgetl.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * The model's output tensor -> class probabilities -> top-k (edgetl.contract.Contract.to_probabilities and
 * edgetl.runtime.top_k):
 * <pre>
 *   p = (q - zero_point) * scale          quantized output (float32 arithmetic)
 *   p = softmax(p) | sigmoid(p) | p       per output.activation
 *   one unit: probabilities = [1 - p, p]  (the unit is P(labels[1]))
 *   class = positive iff p[positive] >= threshold    binary model with a decision (edgetl.metrics.decide)
 *         = argmax(p)                                 otherwise
 * </pre>
 */
public final class OutputDecoder {
    private final ModelContract contract;

    public OutputDecoder(ModelContract contract) {
        this.contract = contract;
    }

    /** A direct buffer in native byte order, sized for one output. */
    public ByteBuffer allocate() {
        return ByteBuffer.allocateDirect(contract.outputBytes()).order(ByteOrder.nativeOrder());
    }

    /** Read the interpreter's output buffer (from position 0) and return probabilities. */
    public float[] probabilities(ByteBuffer out) {
        int units = contract.outputUnits;
        float[] y = new float[units];
        TensorSpec t = contract.output;
        for (int i = 0; i < units; i++) {
            if (t.isQuantized()) {
                int q = "int8".equals(t.dtype) ? out.get(i) : (out.get(i) & 0xFF);
                y[i] = dequantize(q, t);
            } else {
                y[i] = out.getFloat(4 * i);
            }
        }
        return activate(y);
    }

    /** Probabilities from raw quantized values (uint8 read as 0..255, int8 as -128..127). */
    public float[] probabilitiesFromQuantized(int[] q) {
        float[] y = new float[q.length];
        for (int i = 0; i < q.length; i++) {
            y[i] = dequantize(q[i], contract.output);
        }
        return activate(y);
    }

    /** Probabilities from a float32 output tensor. */
    public float[] probabilitiesFromFloats(float[] raw) {
        return activate(raw.clone());
    }

    public static float dequantize(int q, TensorSpec t) {
        return ((float) q - (float) t.zeroPoint) * t.scale;
    }

    private float[] activate(float[] y) {
        if (y.length != contract.outputUnits) {
            throw new IllegalArgumentException("output has " + y.length + " values, model.json says " + contract.outputUnits);
        }
        if ("softmax".equals(contract.activation)) {
            softmaxInPlace(y);
        } else if ("sigmoid".equals(contract.activation)) {
            for (int i = 0; i < y.length; i++) {
                y[i] = sigmoid(y[i]);
            }
        }
        if (y.length == 1) {
            return new float[] {1.0f - y[0], y[0]};
        }
        return y;
    }

    /** e = exp(y - max); e / sum(e), in float32 like numpy (exp itself may differ from numpy's by 1 ulp). */
    public static void softmaxInPlace(float[] y) {
        float max = Float.NEGATIVE_INFINITY;
        for (float v : y) {
            max = Math.max(max, v);
        }
        float sum = 0f;
        for (int i = 0; i < y.length; i++) {
            y[i] = (float) Math.exp(y[i] - max);
            sum += y[i];
        }
        for (int i = 0; i < y.length; i++) {
            y[i] = y[i] / sum;
        }
    }

    public static float sigmoid(float v) {
        float e = (float) Math.exp(-v);
        return 1.0f / (1.0f + e);
    }

    /**
     * The class the model reports (edgetl.metrics.decide): for two classes and a contract decision, the
     * positive class iff its probability >= threshold (compared in float32, as numpy does), else the other;
     * otherwise the most probable class (the first on ties, like numpy's argmax).
     */
    public int decide(float[] probabilities) {
        if (probabilities.length != contract.labels.size()) {
            throw new IllegalArgumentException(probabilities.length + " probabilities for " + contract.labels.size() + " labels");
        }
        if (contract.hasDecision() && probabilities.length == 2) {
            int pos = contract.positiveIndex();
            return probabilities[pos] >= contract.threshold ? pos : 1 - pos;
        }
        int best = 0;
        for (int i = 1; i < probabilities.length; i++) {
            if (probabilities[i] > probabilities[best]) {
                best = i;
            }
        }
        return best;
    }

    /**
     * What the app shows: the decided class ({@link #decide}) first, then the next most probable classes, k in all.
     * Without a decision this is {@link #topK}.
     */
    public List<Recognition> classify(float[] probabilities, int k) {
        List<Recognition> ranked = topK(probabilities, probabilities.length);
        int decided = decide(probabilities);
        List<Recognition> out = new ArrayList<Recognition>(Math.min(k, ranked.size()));
        for (Recognition r : ranked) {
            if (r.index == decided) {
                out.add(r);
            }
        }
        for (Recognition r : ranked) {
            if (out.size() >= k) {
                break;
            }
            if (r.index != decided) {
                out.add(r);
            }
        }
        return out.size() > k ? out.subList(0, k) : out;
    }

    /** The k most probable classes, best first; ties keep the lower index first (numpy's stable argsort). */
    public List<Recognition> topK(float[] probabilities, int k) {
        if (probabilities.length != contract.labels.size()) {
            throw new IllegalArgumentException(probabilities.length + " probabilities for " + contract.labels.size() + " labels");
        }
        int n = Math.min(k, probabilities.length);
        boolean[] taken = new boolean[probabilities.length];
        List<Recognition> out = new ArrayList<Recognition>(n);
        for (int r = 0; r < n; r++) {
            int best = -1;
            for (int i = 0; i < probabilities.length; i++) {
                if (!taken[i] && (best < 0 || probabilities[i] > probabilities[best])) {
                    best = i;
                }
            }
            taken[best] = true;
            out.add(new Recognition(best, contract.labels.get(best), probabilities[best]));
        }
        return out;
    }
}
