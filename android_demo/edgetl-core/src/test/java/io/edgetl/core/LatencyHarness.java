package io.edgetl.core;

import java.io.File;
import java.io.FileOutputStream;
import java.io.OutputStreamWriter;
import java.io.RandomAccessFile;
import java.io.Writer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * For tests/test_android.py: the app's benchmark mode without the interpreter. Usage:
 * {@code LatencyHarness OUT.json WARMUP FILE MS,MS,... [FILE MS,...]...}: each .tflite is memory-mapped and
 * hashed as the app does, "run" with a fake clock whose timed runs take the given milliseconds (warm-up
 * runs take 1 s each, so a timed warm-up would show), and the edgetl-latency/1 file is written to OUT.json.
 */
public final class LatencyHarness {
    private LatencyHarness() {
    }

    public static void main(String[] args) throws Exception {
        int warmup = Integer.parseInt(args[1]);
        Map<String, Object> info = new LinkedHashMap<String, Object>();
        info.put("manufacturer", "JVM");
        info.put("model", System.getProperty("java.vm.name"));
        Map<String, Object> settings = new LinkedHashMap<String, Object>();
        settings.put("warmup", warmup);
        settings.put("clock", "fake (LatencyHarness)");
        LatencyReport report = new LatencyReport(
            LatencyReport.describeDevice("JVM", "test harness", null, System.getProperty("os.arch"), "none", 0, "fake clock", 1),
            info, settings);
        for (int i = 2; i + 1 < args.length; i += 2) {
            File file = new File(args[i]);
            String[] parts = args[i + 1].split(",");
            double[] ms = new double[parts.length];
            for (int j = 0; j < parts.length; j++) {
                ms[j] = Double.parseDouble(parts[j]);
            }
            RandomAccessFile raf = new RandomAccessFile(file, "r");
            try {
                MappedByteBuffer model = raf.getChannel().map(FileChannel.MapMode.READ_ONLY, 0, raf.length());
                FakeInference f = new FakeInference(warmup, 1000000000L, FakeInference.millis(ms));
                report.addModel(file.getName(), LatencyReport.sha256(model), new LatencyBench(warmup, ms.length, f).measure(f));
            } finally {
                raf.close();
            }
        }
        Writer w = new OutputStreamWriter(new FileOutputStream(args[0]), "UTF-8");
        try {
            w.write(report.toJson());
        } finally {
            w.close();
        }
    }
}
