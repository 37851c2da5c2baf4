package io.edgetl.core;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.util.List;

/**
 * Command-line twin of the app's pipeline, for the cross-language parity tests in tests/test_android.py.
 * <pre>
 *   input MODEL_JSON RGB_RAW WIDTH HEIGHT OUT_BIN   decoded RGB bytes -> the input tensor, little-endian
 *   topk  MODEL_JSON LABELS_TXT OUTPUT_BIN K        the model's output tensor (little-endian) -> top-k lines
 *                                                    "label TAB index TAB float-bits-hex TAB score"
 *   decide CONTRACT LABELS_TXT OUTPUT_BIN            the reported class (OutputDecoder.decide): "label TAB index";
 *                                                    CONTRACT is model.json, or a .tflite whose embedded
 *                                                    edgetl_contract.json is read (the app's fallback)
 * </pre>
 */
public final class ParityHarness {
    private ParityHarness() {
    }

    public static void main(String[] args) throws IOException {
        try {
            if (args.length == 6 && "input".equals(args[0])) {
                input(args);
            } else if (args.length == 5 && "topk".equals(args[0])) {
                topk(args);
            } else if (args.length == 4 && "decide".equals(args[0])) {
                decide(args);
            } else {
                System.err.println("usage: input MODEL_JSON RGB_RAW WIDTH HEIGHT OUT_BIN | topk MODEL_JSON LABELS_TXT OUTPUT_BIN K");
                System.exit(64);
            }
        } catch (ContractException e) {
            System.err.println("contract error: " + e.getMessage());
            System.exit(3);
        }
    }

    private static String read(String path) throws IOException {
        return new String(Files.readAllBytes(new File(path).toPath()), "UTF-8");
    }

    private static void input(String[] a) throws IOException {
        ModelContract c = ModelContract.parse(read(a[1]));
        byte[] rgb = Files.readAllBytes(new File(a[2]).toPath());
        int width = Integer.parseInt(a[3]);
        int height = Integer.parseInt(a[4]);
        InputEncoder enc = new InputEncoder(c);
        ByteBuffer buf = ByteBuffer.allocate(c.inputBytes()).order(ByteOrder.LITTLE_ENDIAN);
        enc.encode(rgb, width, height, buf);
        OutputStream out = new FileOutputStream(a[5]);
        try {
            out.write(buf.array(), 0, c.inputBytes());
        } finally {
            out.close();
        }
    }

    private static ModelContract contract(String path) throws IOException {
        if (!path.endsWith(".tflite")) {
            return ModelContract.parse(read(path));
        }
        byte[] embedded = ZipAppendix.read(ByteBuffer.wrap(Files.readAllBytes(new File(path).toPath())), "edgetl_contract.json");
        if (embedded == null) {
            throw new ContractException(path + " has no embedded edgetl_contract.json");
        }
        return ModelContract.parse(new String(embedded, "UTF-8"));
    }

    private static void decide(String[] a) throws IOException {
        ModelContract c = contract(a[1]);
        c.checkLabels(Labels.parse(read(a[2])));
        byte[] raw = Files.readAllBytes(new File(a[3]).toPath());
        if (raw.length != c.outputBytes()) {
            throw new ContractException("output tensor has " + raw.length + " bytes, the contract implies " + c.outputBytes());
        }
        OutputDecoder dec = new OutputDecoder(c);
        int k = dec.decide(dec.probabilities(ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN)));
        new PrintStream(System.out, true, "UTF-8").println(c.labels.get(k) + "\t" + k);
    }

    private static void topk(String[] a) throws IOException {
        ModelContract c = ModelContract.parse(read(a[1]));
        c.checkLabels(Labels.parse(read(a[2])));
        byte[] raw = Files.readAllBytes(new File(a[3]).toPath());
        if (raw.length != c.outputBytes()) {
            throw new ContractException("output tensor has " + raw.length + " bytes, model.json implies " + c.outputBytes());
        }
        OutputDecoder dec = new OutputDecoder(c);
        float[] p = dec.probabilities(ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN));
        List<Recognition> top = dec.topK(p, Integer.parseInt(a[4]));
        PrintStream out = new PrintStream(System.out, true, "UTF-8");
        for (Recognition r : top) {
            out.println(r.label + "\t" + r.index + "\t" + Integer.toHexString(Float.floatToIntBits(r.score)) + "\t" + r.score);
        }
    }
}
