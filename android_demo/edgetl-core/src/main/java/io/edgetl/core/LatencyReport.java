package io.edgetl.core;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The latency file of the app's benchmark mode, in edgetl's {@code edgetl-latency/1} format, the file
 * {@code edgetl search --latency-from} reads (edgetl/choose/latency.py, docs/search.md):
 *
 * <pre>
 * {"format": "edgetl-latency/1", "device": "Google Pixel 7 (SoC Tensor G2, arm64-v8a), Android 14 (API 34), CPU, 1 thread(s)",
 *  "device_info": {...}, "settings": {...},
 *  "models": [{"file": "x.tflite", "sha256": "...", "p50_ms": 3.1, "p90_ms": ..., "mean_ms": ..., "min_ms": ...,
 *              "max_ms": ..., "runs": 50, "warmup": 10}],
 *  "failed": [{"file": "y.tflite", "error": "..."}]}
 * </pre>
 *
 * The reader needs {@code format}, {@code device} and each model's {@code file}, {@code sha256} and
 * {@code p50_ms}; it matches a model to a candidate file by sha256 and ignores the other keys, which are
 * here for people. A model that could not be measured is listed under {@code failed}, never under models.
 */
public final class LatencyReport {
    public static final String FORMAT = "edgetl-latency/1";

    private final String device;
    private final Map<String, Object> deviceInfo;
    private final Map<String, Object> settings;
    private final List<Map<String, Object>> models = new ArrayList<Map<String, Object>>();
    private final List<Map<String, Object>> failed = new ArrayList<Map<String, Object>>();

    public LatencyReport(String device, Map<String, Object> deviceInfo, Map<String, Object> settings) {
        if (device == null || device.trim().isEmpty()) {
            throw new IllegalArgumentException("device must describe where the latencies were measured");
        }
        this.device = device.trim();
        this.deviceInfo = new LinkedHashMap<String, Object>(deviceInfo);
        this.settings = new LinkedHashMap<String, Object>(settings);
    }

    public void addModel(String file, String sha256, LatencyBench.Samples samples) {
        Map<String, Object> m = new LinkedHashMap<String, Object>();
        m.put("file", file);
        m.put("sha256", sha256);
        m.put("p50_ms", samples.p50Ms());
        m.put("p90_ms", samples.p90Ms());
        m.put("mean_ms", samples.meanMs());
        m.put("min_ms", samples.minMs());
        m.put("max_ms", samples.maxMs());
        m.put("runs", samples.runs());
        m.put("warmup", samples.warmup);
        models.add(m);
    }

    public void addFailure(String file, String error) {
        Map<String, Object> m = new LinkedHashMap<String, Object>();
        m.put("file", file);
        m.put("error", error);
        failed.add(m);
    }

    public int measured() {
        return models.size();
    }

    public int failures() {
        return failed.size();
    }

    public String toJson() {
        Map<String, Object> doc = new LinkedHashMap<String, Object>();
        doc.put("format", FORMAT);
        doc.put("device", device);
        doc.put("device_info", deviceInfo);
        doc.put("settings", settings);
        doc.put("models", models);
        doc.put("failed", failed);
        StringBuilder sb = new StringBuilder();
        write(sb, doc, "");
        return sb.append('\n').toString();
    }

    /**
     * "Google Pixel 7 (SoC Tensor G2, arm64-v8a), Android 14 (API 34), GPU, 4 thread(s)": the reader's
     * {@code device} line. {@code soc} may be null (Build.SOC_MODEL exists from API 31 only).
     */
    public static String describeDevice(String manufacturer, String model, String soc, String abi,
                                        String release, int sdk, String accelerator, int threads) {
        String name = model == null ? "" : model.trim();
        String maker = manufacturer == null ? "" : manufacturer.trim();
        if (!maker.isEmpty() && !name.toLowerCase(Locale.ROOT).startsWith(maker.toLowerCase(Locale.ROOT))) {
            name = maker + " " + name;
        }
        if (name.trim().isEmpty()) {
            name = "unknown device";
        }
        StringBuilder hw = new StringBuilder();
        if (soc != null && !soc.trim().isEmpty() && !"unknown".equalsIgnoreCase(soc.trim())) {
            hw.append("SoC ").append(soc.trim());
        }
        if (abi != null && !abi.trim().isEmpty()) {
            hw.append(hw.length() > 0 ? ", " : "").append(abi.trim());
        }
        return name.trim() + (hw.length() > 0 ? " (" + hw + ")" : "") + ", Android " + release + " (API " + sdk + "), "
            + accelerator + ", " + threads + " thread(s)";
    }

    /** Lower-case hex sha256 of the buffer's bytes from 0 to its limit (the buffer itself is not moved). */
    public static String sha256(ByteBuffer bytes) {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
        ByteBuffer view = bytes.duplicate();
        view.rewind();
        md.update(view);
        StringBuilder sb = new StringBuilder(64);
        for (byte b : md.digest()) {
            sb.append(String.format(Locale.ROOT, "%02x", b & 0xff));
        }
        return sb.toString();
    }

    // ---- a small JSON writer (the core has no JSON library; Json reads, this writes) -------------

    private static void write(StringBuilder sb, Object v, String indent) {
        if (v == null) {
            sb.append("null");
        } else if (v instanceof String) {
            quote(sb, (String) v);
        } else if (v instanceof Boolean || v instanceof Integer || v instanceof Long) {
            sb.append(v.toString());
        } else if (v instanceof Number) {
            double d = ((Number) v).doubleValue();
            if (Double.isNaN(d) || Double.isInfinite(d)) {
                throw new IllegalArgumentException("JSON has no " + d);
            }
            sb.append(Double.toString(d));  // shortest repr that round-trips, as Python's float() reads it
        } else if (v instanceof Map) {
            Map<?, ?> m = (Map<?, ?>) v;
            if (m.isEmpty()) {
                sb.append("{}");
                return;
            }
            String inner = indent + "  ";
            sb.append("{\n");
            int i = 0;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                sb.append(inner);
                quote(sb, String.valueOf(e.getKey()));
                sb.append(": ");
                write(sb, e.getValue(), inner);
                sb.append(++i < m.size() ? ",\n" : "\n");
            }
            sb.append(indent).append('}');
        } else if (v instanceof List) {
            List<?> l = (List<?>) v;
            if (l.isEmpty()) {
                sb.append("[]");
                return;
            }
            String inner = indent + "  ";
            sb.append("[\n");
            for (int i = 0; i < l.size(); i++) {
                sb.append(inner);
                write(sb, l.get(i), inner);
                sb.append(i + 1 < l.size() ? ",\n" : "\n");
            }
            sb.append(indent).append(']');
        } else {
            quote(sb, v.toString());
        }
    }

    private static void quote(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"':
                    sb.append("\\\"");
                    break;
                case '\\':
                    sb.append("\\\\");
                    break;
                case '\n':
                    sb.append("\\n");
                    break;
                case '\r':
                    sb.append("\\r");
                    break;
                case '\t':
                    sb.append("\\t");
                    break;
                default:
                    if (c < 0x20) {
                        sb.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
            }
        }
        sb.append('"');
    }
}
