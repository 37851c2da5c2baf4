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
