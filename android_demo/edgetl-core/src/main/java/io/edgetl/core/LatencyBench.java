package io.edgetl.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * The timing core of the app's benchmark mode (BenchmarkActivity), kept free of android.* so that JUnit
 * runs it on any JVM with a fake clock: {@code warmup} untimed calls, then {@code runs} calls each timed
 * on its own with the clock, and the percentiles of those durations.
 *
 * <p>Percentiles interpolate linearly between closest ranks, as numpy's default and edgetl's
 * {@code measure/stats.percentile} do, so a phone's p50 means what {@code edgetl benchmark}'s p50 means.
 */
public final class LatencyBench {

    /** A monotonic clock in nanoseconds ({@link System#nanoTime()} on the phone, a fake one in tests). */
    public interface Clock {
        long nanoTime();
    }

    /** One inference: fill nothing, allocate nothing, just run the model once on its fixed input. */
    public interface Inference {
        void run() throws Exception;
    }

    public static final Clock SYSTEM_CLOCK = new Clock() {
        @Override
        public long nanoTime() {
            return System.nanoTime();
        }
    };

    public final int warmup;
    public final int runs;
    private final Clock clock;

    public LatencyBench(int warmup, int runs, Clock clock) {
        String problem = checkCounts(warmup, runs);
        if (problem != null) {
            throw new IllegalArgumentException(problem);
        }
        if (clock == null) {
            throw new IllegalArgumentException("clock must not be null");
        }
        this.warmup = warmup;
        this.runs = runs;
        this.clock = clock;
    }

    /** Why these counts cannot be used, or null. */
    public static String checkCounts(int warmup, int runs) {
        if (warmup < 0) {
            return "warmup must be 0 or more, got " + warmup;
        }
        if (runs < 1) {
            return "runs must be 1 or more, got " + runs;
        }
        return null;
    }

    /** Warm-up (untimed), then {@link #runs} timed calls. An exception from the inference propagates. */
    public Samples measure(Inference inference) throws Exception {
        for (int i = 0; i < warmup; i++) {
            inference.run();
        }
        long[] nanos = new long[runs];
        for (int i = 0; i < runs; i++) {
            long t0 = clock.nanoTime();
            inference.run();
            nanos[i] = clock.nanoTime() - t0;
        }
        return new Samples(nanos, warmup);
    }

    /** The timed durations of one model, in run order, and their summary in milliseconds. */
    public static final class Samples {
        private final long[] nanos;
        private final double[] sortedMs;
        public final int warmup;

        public Samples(long[] nanos, int warmup) {
            if (nanos.length == 0) {
                throw new IllegalArgumentException("no timed runs");
            }
            this.nanos = nanos.clone();
            this.warmup = warmup;
            sortedMs = new double[nanos.length];
            for (int i = 0; i < nanos.length; i++) {
                sortedMs[i] = nanos[i] / 1e6;
            }
            Arrays.sort(sortedMs);
        }

        public int runs() {
            return nanos.length;
        }

        public long[] nanos() {
            return nanos.clone();
        }

        public double percentileMs(double q) {
            return percentile(sortedMs, q);
        }

        public double p50Ms() {
            return percentile(sortedMs, 50);
        }

        public double p90Ms() {
            return percentile(sortedMs, 90);
        }

        public double minMs() {
            return sortedMs[0];
        }

        public double maxMs() {
            return sortedMs[sortedMs.length - 1];
        }

        public double meanMs() {
            double sum = 0;
            for (double v : sortedMs) {
                sum += v;
            }
            return sum / sortedMs.length;
        }
    }

    /** The q-th percentile (0..100) of ascending {@code sorted}: rank q/100*(n-1), linear between ranks. */
    public static double percentile(double[] sorted, double q) {
        if (sorted.length == 0) {
            throw new IllegalArgumentException("no samples");
        }
        if (!(q >= 0 && q <= 100)) {
            throw new IllegalArgumentException("percentile must be within 0..100, got " + q);
        }
        double pos = q / 100.0 * (sorted.length - 1);
        int lo = (int) Math.floor(pos);
        int hi = Math.min(lo + 1, sorted.length - 1);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
    }

    /**
     * A direct buffer of {@code numBytes} in native order holding a fixed, deterministic input for a tensor
     * of {@code dtype} ("float32", "uint8", "int8", anything else: the same byte pattern). Float values are
     * in [-1, 1] (no NaN or denormals, which could change the timing); integer bytes cycle through 0..250.
     */
    public static ByteBuffer fixedInput(String dtype, int numBytes) {
        ByteBuffer buf = ByteBuffer.allocateDirect(numBytes).order(ByteOrder.nativeOrder());
        if ("float32".equals(dtype)) {
            int n = numBytes / 4;
            for (int i = 0; i < n; i++) {
                buf.putFloat((i % 251) / 125.0f - 1.0f);
            }
        }
        while (buf.hasRemaining()) {
            buf.put((byte) (buf.position() % 251));
        }
        buf.rewind();
        return buf;
    }
}
