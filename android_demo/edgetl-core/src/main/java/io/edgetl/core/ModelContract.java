package io.edgetl.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * model.json: the contract edgetl exports beside model.tflite (Contract.to_dict() in edgetl/contract.py).
 * It says what the model takes (size, channel order, mean/std, dtype, scale/zero point) and how to read
 * its output (dtype, scale/zero point, activation, units), and for a binary model optionally the decision
 * ({@code "decision": {"positive_label", "threshold"}}, chosen by {@code edgetl train --target-recall}):
 * the positive class is reported iff its probability >= threshold ({@link OutputDecoder#decide}).
 */
public final class ModelContract {
    public static final String FORMAT = "edgetl-contract/1";
    public static final String RESIZE = ImageResizer.METHOD;

    public final List<String> labels;
    public final int height;
    public final int width;
    public final String channelOrder;
    /** mean and std per channel, as float32 like the Python arithmetic. */
    public final float[] mean;
    public final float[] std;
    public final TensorSpec input;
    public final TensorSpec output;
    public final int outputUnits;
    /** What the consumer applies to the dequantized output: none, softmax or sigmoid. */
    public final String activation;
    public final String artifact;
    /** The decision's positive class, or null when the model has no decision (the top class wins). */
    public final String positiveLabel;
    /**
     * The decision's threshold as float32 (NaN without a decision): numpy compares the float32 probabilities
     * with the threshold in float32 ({@code probs >= threshold}, a weak Python scalar), so Java does too.
     */
    public final float threshold;

    public ModelContract(List<String> labels, int height, int width, String channelOrder, float[] mean, float[] std,
                         TensorSpec input, TensorSpec output, int outputUnits, String activation, String artifact) {
        this(labels, height, width, channelOrder, mean, std, input, output, outputUnits, activation, artifact, null, Float.NaN);
    }

    /**
     * With a binary decision: {@code positiveLabel} (one of {@code labels}) is reported iff its probability is
     * >= {@code threshold}; pass (null, NaN) for none.
     */
    public ModelContract(List<String> labels, int height, int width, String channelOrder, float[] mean, float[] std,
                         TensorSpec input, TensorSpec output, int outputUnits, String activation, String artifact,
                         String positiveLabel, float threshold) {
        this.labels = Collections.unmodifiableList(new ArrayList<String>(labels));
        this.height = height;
        this.width = width;
        this.channelOrder = channelOrder;
        this.mean = mean.clone();
        this.std = std.clone();
        this.input = input;
        this.output = output;
        this.outputUnits = outputUnits;
        this.activation = activation;
        this.artifact = artifact;
        this.positiveLabel = positiveLabel;
        this.threshold = positiveLabel == null ? Float.NaN : threshold;
        validate();
    }

    /** Parse model.json text; throws {@link ContractException} naming the bad field. */
    public static ModelContract parse(String json) {
        Object root = Json.parse(json);
        if (!(root instanceof Map)) {
            throw bad("the document is not a JSON object");
        }
        Map<?, ?> d = (Map<?, ?>) root;
        if (!FORMAT.equals(d.get("format"))) {
            throw new ContractException("model.json has format " + d.get("format") + ", expected " + FORMAT
                    + "; re-export it with `edgetl export android`");
        }
        Map<?, ?> in = object(d, "input");
        Map<?, ?> out = object(d, "output");
        List<String> labels = strings(d, "labels");
        Object resize = in.get("resize");
        if (resize != null && !RESIZE.equals(resize)) {
            throw bad("input.resize is " + resize + ", this app implements only " + RESIZE);
        }
        Object layout = in.get("layout");
        if (layout != null && !"NHWC".equals(layout)) {
            throw bad("input.layout is " + layout + ", this app feeds NHWC");
        }
        if (in.get("channels") != null && integer(in, "channels") != 3) {
            throw bad("input.channels must be 3");
        }
        String order = in.get("channel_order") == null ? "RGB" : string(in, "channel_order");
        int units = out.get("units") == null ? labels.size() : integer(out, "units");
        String activation = out.get("activation") == null ? "none" : string(out, "activation");
        Object artifact = d.get("artifact");
        String positive = null;
        float threshold = Float.NaN;
        Object decision = d.get("decision");
        if (decision != null) {
            if (!(decision instanceof Map)) {
                throw bad("'decision' must be an object");
            }
            Map<?, ?> dec = (Map<?, ?>) decision;
            threshold = (float) number(dec, "threshold");  // numpy's float32 cast: round to nearest
            // Contract.positive_index(): no positive label means the second class, as in edgetl.metrics.decide
            positive = dec.get("positive_label") == null ? (labels.size() > 1 ? labels.get(1) : null)
                    : string(dec, "positive_label");
            if (positive == null) {
                throw bad("a decision needs two classes, the model has " + labels.size());
            }
        }
        return new ModelContract(labels, integer(in, "height"), integer(in, "width"), order,
                floats3(in, "mean"), floats3(in, "std"), tensor(in, "input"), tensor(out, "output"),
                units, activation, artifact instanceof String ? (String) artifact : null, positive, threshold);
    }

    /** True when a binary decision (positive class and threshold) replaces the top class. */
    public boolean hasDecision() {
        return positiveLabel != null;
    }

    /** Index of the decision's positive class in {@link #labels}, -1 without a decision. */
    public int positiveIndex() {
        return positiveLabel == null ? -1 : labels.indexOf(positiveLabel);
    }

    private void validate() {
        if (height <= 0 || width <= 0) {
            throw bad("input size " + height + "x" + width + " is not positive");
        }
        if (!"RGB".equals(channelOrder) && !"BGR".equals(channelOrder)) {
            throw bad("input.channel_order is " + channelOrder + ", expected RGB or BGR");
        }
        for (int c = 0; c < 3; c++) {
            if (std[c] == 0f) {
                throw bad("input.std has a zero");
            }
        }
        if (!"none".equals(activation) && !"softmax".equals(activation) && !"sigmoid".equals(activation)) {
            throw bad("output.activation is " + activation + ", expected none, softmax or sigmoid");
        }
        checkDtype(input, "input");
        checkDtype(output, "output");
        if (outputUnits <= 0) {
            throw bad("output.units must be positive");
        }
        int expected = outputUnits == 1 ? 2 : outputUnits;
        if (labels.size() != expected) {
            throw new ContractException("model.json has " + labels.size() + " labels but the model outputs "
                    + outputUnits + " unit(s); the labels do not belong to this model: re-export with `edgetl export android`");
        }
        if (positiveLabel != null) {
            if (labels.size() != 2) {
                throw bad("decision is for two-class models, this one has " + labels.size() + " classes");
            }
            if (!labels.contains(positiveLabel)) {
                throw bad("decision.positive_label '" + positiveLabel + "' is not one of the labels " + labels);
            }
            if (!(threshold >= 0f && threshold <= 1f)) {
                throw bad("decision.threshold is " + threshold + ", expected a probability in [0, 1]");
            }
        }
    }

    private static void checkDtype(TensorSpec t, String where) {
        if (t.isQuantized()) {
            if (!(t.scale > 0f) || Float.isInfinite(t.scale)) {
                throw bad(where + ".scale must be a positive number for a " + t.dtype + " tensor");
            }
        } else if (!"float32".equals(t.dtype)) {
            throw bad(where + ".dtype is " + t.dtype + ", this app handles float32, uint8 and int8");
        }
    }

    /** Number of classes (2 for a single sigmoid unit). */
    public int numClasses() {
        return labels.size();
    }

    /** Bytes of the input buffer for one image. */
    public int inputBytes() {
        return height * width * 3 * input.bytesPerElement();
    }

    /** Bytes of the output buffer for one image. */
    public int outputBytes() {
        return outputUnits * output.bytesPerElement();
    }

    /** labels.txt must list exactly the contract's labels, in the same order. */
    public void checkLabels(List<String> labelsFile) {
        if (labelsFile.size() != labels.size()) {
            throw new ContractException("labels.txt has " + labelsFile.size() + " labels but model.json has "
                    + labels.size() + "; copy both from the same `edgetl export android` run");
        }
        for (int i = 0; i < labels.size(); i++) {
            if (!labels.get(i).equals(labelsFile.get(i))) {
                throw new ContractException("labels.txt line " + (i + 1) + " is '" + labelsFile.get(i)
                        + "' but model.json says '" + labels.get(i) + "'; copy both from the same `edgetl export android` run");
            }
        }
    }

    /**
     * The interpreter's real tensors must be the ones model.json describes (shape, dtype, scale/zero point).
     * dtype names are numpy-style: float32, uint8, int8 (the app maps LiteRT's DataType to them).
     */
    public void checkTensors(int[] inputShape, TensorSpec realInput, int[] outputShape, TensorSpec realOutput) {
        if (inputShape.length != 4 || inputShape[1] != height || inputShape[2] != width || inputShape[3] != 3) {
            throw new ContractException("model.tflite takes input " + shape(inputShape) + " but model.json says [1, "
                    + height + ", " + width + ", 3]; the model and model.json are from different exports");
        }
        checkSpec(realInput, input, "input");
        int units = 1;
        for (int i = 1; i < outputShape.length; i++) {
            units *= outputShape[i];
        }
        if (units != outputUnits) {
            throw new ContractException("model.tflite outputs " + shape(outputShape) + " (" + units + " units) but model.json says "
                    + outputUnits + "; the model and model.json are from different exports");
        }
        checkSpec(realOutput, output, "output");
    }

    private static void checkSpec(TensorSpec real, TensorSpec declared, String where) {
        boolean same = real.dtype.equals(declared.dtype);
        if (same && declared.isQuantized()) {
            same = real.zeroPoint == declared.zeroPoint
                    && Math.abs(real.scale - declared.scale) <= 1e-6f * Math.abs(declared.scale);
        }
        if (!same) {
            throw new ContractException("model.tflite " + where + " is " + real + " but model.json says " + declared
                    + "; the model and model.json are from different exports");
        }
    }

    private static String shape(int[] s) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < s.length; i++) {
            sb.append(i == 0 ? "" : ", ").append(s[i]);
        }
        return sb.append(']').toString();
    }

    // ---- field readers ------------------------------------------------------------------
    private static ContractException bad(String what) {
        return new ContractException("model.json is not a usable edgetl contract: " + what
                + "; re-export it with `edgetl export android`");
    }

    private static Map<?, ?> object(Map<?, ?> d, String key) {
        Object v = d.get(key);
        if (!(v instanceof Map)) {
            throw bad("missing object '" + key + "'");
        }
        return (Map<?, ?>) v;
    }

    private static String string(Map<?, ?> d, String key) {
        Object v = d.get(key);
        if (!(v instanceof String)) {
            throw bad("missing or non-string field '" + key + "'");
        }
        return (String) v;
    }

    private static double number(Map<?, ?> d, String key) {
        Object v = d.get(key);
        if (!(v instanceof Double)) {
            throw bad("missing or non-numeric field '" + key + "'");
        }
        return ((Double) v).doubleValue();
    }

    private static int integer(Map<?, ?> d, String key) {
        double v = number(d, key);
        if (v != Math.rint(v) || Math.abs(v) > Integer.MAX_VALUE) {
            throw bad("field '" + key + "' must be an integer");
        }
        return (int) v;
    }

    private static List<String> strings(Map<?, ?> d, String key) {
        Object v = d.get(key);
        if (!(v instanceof List)) {
            throw bad("missing list '" + key + "'");
        }
        List<String> out = new ArrayList<String>();
        for (Object o : (List<?>) v) {
            if (!(o instanceof String)) {
                throw bad("'" + key + "' must hold strings");
            }
            out.add((String) o);
        }
        return out;
    }

    private static float[] floats3(Map<?, ?> d, String key) {
        Object v = d.get(key);
        if (!(v instanceof List) || ((List<?>) v).size() != 3) {
            throw bad("'" + key + "' must be a list of 3 numbers");
        }
        float[] out = new float[3];
        for (int i = 0; i < 3; i++) {
            Object o = ((List<?>) v).get(i);
            if (!(o instanceof Double)) {
                throw bad("'" + key + "' must be a list of 3 numbers");
            }
            out[i] = (float) ((Double) o).doubleValue();  // np.asarray(mean, np.float32)
        }
        return out;
    }

    private static TensorSpec tensor(Map<?, ?> d, String where) {
        String dtype = string(d, "dtype");
        if ("uint8".equals(dtype) || "int8".equals(dtype)) {
            if (d.get("scale") == null || d.get("zero_point") == null) {
                throw bad(where + " is " + dtype + " but has no scale/zero_point");
            }
            return new TensorSpec(dtype, (float) number(d, "scale"), integer(d, "zero_point"));
        }
        return new TensorSpec(dtype, 0f, 0);
    }
}
