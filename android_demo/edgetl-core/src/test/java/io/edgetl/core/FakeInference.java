package io.edgetl.core;

/**
 * A fake clock and an "inference" that advances it: warm-up calls take {@code warmupNanos} each, then the
 * timed calls take {@code nanos[0]}, {@code nanos[1]}, ... in order. Counts calls and clock reads.
 */
final class FakeInference implements LatencyBench.Clock, LatencyBench.Inference {
    private final int warmup;
    private final long warmupNanos;
    private final long[] nanos;
    private long now = 1000000000L;
    int calls;
    int clockReads;

    FakeInference(int warmup, long warmupNanos, long[] nanos) {
        this.warmup = warmup;
        this.warmupNanos = warmupNanos;
        this.nanos = nanos.clone();
    }

    static long[] millis(double... ms) {
        long[] out = new long[ms.length];
        for (int i = 0; i < ms.length; i++) {
            out[i] = Math.round(ms[i] * 1e6);
        }
        return out;
    }

    @Override
    public long nanoTime() {
        clockReads++;
        return now;
    }

    @Override
    public void run() {
        now += calls < warmup ? warmupNanos : nanos[calls - warmup];
        calls++;
    }
}
