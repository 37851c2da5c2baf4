package io.edgetl.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.Charset;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class LatencyBenchTest {
    private static final double EPS = 1e-12;

    @Test
    public void percentilesInterpolateBetweenRanksLikeNumpy() throws Exception {
        // 1..10 ms in shuffled order: numpy.percentile gives p50 5.5, p90 9.1
        FakeInference f = new FakeInference(0, 0, FakeInference.millis(7, 3, 10, 1, 5, 9, 2, 8, 4, 6));
        LatencyBench.Samples s = new LatencyBench(0, 10, f).measure(f);
        assertEquals(5.5, s.p50Ms(), EPS);
        assertEquals(9.1, s.p90Ms(), 1e-9);
        assertEquals(1.0, s.minMs(), EPS);
        assertEquals(10.0, s.maxMs(), EPS);
        assertEquals(5.5, s.meanMs(), 1e-9);
        assertEquals(1.0, s.percentileMs(0), EPS);
        assertEquals(10.0, s.percentileMs(100), EPS);
        // odd count: the middle sample itself
        FakeInference g = new FakeInference(0, 0, FakeInference.millis(0.3, 0.1, 0.2));
        assertEquals(0.2, new LatencyBench(0, 3, g).measure(g).p50Ms(), EPS);
        assertEquals(2.5, LatencyBench.percentile(new double[] {2.5}, 50), EPS);
    }

    @Test
    public void warmupRunsAreNotTimedAndNotInTheSamples() throws Exception {
        // warm-up calls are 1000 ms each: if one were timed, max or p50 would show it
        FakeInference f = new FakeInference(4, 1000000000L, FakeInference.millis(2, 2, 3, 2, 2));
        LatencyBench.Samples s = new LatencyBench(4, 5, f).measure(f);
        assertEquals(9, f.calls);
        assertEquals(10, f.clockReads);  // two reads per timed run, none during warm-up
        assertEquals(5, s.runs());
        assertEquals(4, s.warmup);
        assertEquals(3.0, s.maxMs(), EPS);
        assertEquals(2.0, s.p50Ms(), EPS);
        assertArrayEquals(FakeInference.millis(2, 2, 3, 2, 2), s.nanos());
    }

    @Test
    public void badCountsAndFailingInferenceAreRefused() throws Exception {
        assertNotNull(LatencyBench.checkCounts(0, 0));
        assertNotNull(LatencyBench.checkCounts(-1, 5));
        assertEquals(null, LatencyBench.checkCounts(0, 1));
        try {
            new LatencyBench(10, 0, LatencyBench.SYSTEM_CLOCK);
            fail("runs 0 accepted");
        } catch (IllegalArgumentException expected) {
            assertTrue(expected.getMessage().contains("runs"));
        }
        try {
            LatencyBench.percentile(new double[] {1, 2}, 101);
            fail("q 101 accepted");
        } catch (IllegalArgumentException expected) {
            // ok
        }
        try {
            new LatencyBench(0, 3, LatencyBench.SYSTEM_CLOCK).measure(new LatencyBench.Inference() {
                @Override
                public void run() {
                    throw new IllegalStateException("model refused");
                }
            });
            fail("a failing inference was timed");
        } catch (IllegalStateException expected) {
            assertEquals("model refused", expected.getMessage());
        }
    }

    @Test
    public void systemClockTimesRealWork() throws Exception {
        LatencyBench.Samples s = new LatencyBench(1, 3, LatencyBench.SYSTEM_CLOCK).measure(new LatencyBench.Inference() {
            @Override
            public void run() throws Exception {
                Thread.sleep(2);
            }
        });
        assertTrue("slept 2 ms, measured " + s.minMs(), s.minMs() >= 1.9);
    }

    @Test
    public void fixedInputIsDeterministicAndInRange() {
        ByteBuffer f = LatencyBench.fixedInput("float32", 4 * 600);
        assertEquals(ByteOrder.nativeOrder(), f.order());
        assertTrue(f.isDirect());
        assertEquals(0, f.position());
        for (int i = 0; i < 600; i++) {
            float v = f.getFloat(4 * i);
            assertTrue(v + " at " + i, v >= -1f && v <= 1f);
        }
        assertEquals(-1f, f.getFloat(0), 0f);
        assertEquals(1f, f.getFloat(4 * 250), 0f);
        ByteBuffer u = LatencyBench.fixedInput("uint8", 96 * 96 * 3);
        assertEquals(96 * 96 * 3, u.remaining());
        assertEquals(250, u.get(250) & 0xff);
        assertEquals(0, u.get(251));
        assertEquals(LatencyBench.fixedInput("uint8", 1000), u.duplicate().limit(1000));
    }

    @Test
    public void reportIsTheEdgetlLatencyFormat() throws Exception {
        Map<String, Object> info = new LinkedHashMap<String, Object>();
        info.put("manufacturer", "Google");
        info.put("sdk", 34);
        Map<String, Object> settings = new LinkedHashMap<String, Object>();
        settings.put("threads", 4);
        LatencyReport r = new LatencyReport("Pixel \"7\"\n, CPU", info, settings);
        FakeInference f = new FakeInference(2, 5, FakeInference.millis(3, 1, 2));
        r.addModel("a_int8.tflite", LatencyReport.sha256(ByteBuffer.wrap("abc".getBytes(Charset.forName("UTF-8")))),
            new LatencyBench(2, 3, f).measure(f));
        r.addFailure("b.tflite", "GPU failed: \\ unsupported op");
        assertEquals(1, r.measured());
        assertEquals(1, r.failures());

        Map<?, ?> doc = (Map<?, ?>) Json.parse(r.toJson());
        assertEquals("edgetl-latency/1", doc.get("format"));
        assertEquals("Pixel \"7\"\n, CPU", doc.get("device"));
        assertEquals(34.0, (Double) ((Map<?, ?>) doc.get("device_info")).get("sdk"), 0);
        assertEquals(4.0, (Double) ((Map<?, ?>) doc.get("settings")).get("threads"), 0);
        List<?> models = (List<?>) doc.get("models");
        assertEquals(1, models.size());
        Map<?, ?> m = (Map<?, ?>) models.get(0);
        assertEquals("a_int8.tflite", m.get("file"));
        assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", m.get("sha256"));
        assertEquals(2.0, (Double) m.get("p50_ms"), EPS);
        assertEquals(2.8, (Double) m.get("p90_ms"), 1e-9);
        assertEquals(1.0, (Double) m.get("min_ms"), EPS);
        assertEquals(3.0, (Double) m.get("max_ms"), EPS);
        assertEquals(3.0, (Double) m.get("runs"), 0);
        assertEquals(2.0, (Double) m.get("warmup"), 0);
        Map<?, ?> bad = (Map<?, ?>) ((List<?>) doc.get("failed")).get(0);
        assertEquals("GPU failed: \\ unsupported op", bad.get("error"));
        try {
            new LatencyReport(" ", info, settings);
            fail("an empty device accepted");
        } catch (IllegalArgumentException expected) {
            // the reader requires a non-empty device
        }
    }

    @Test
    public void sha256DoesNotMoveTheBuffer() {
        ByteBuffer b = ByteBuffer.wrap("xxabc".getBytes(Charset.forName("UTF-8")));
        b.position(2);
        String whole = LatencyReport.sha256(b);
        assertEquals(2, b.position());
        assertEquals(64, whole.length());
        assertEquals(whole, LatencyReport.sha256(ByteBuffer.wrap("xxabc".getBytes(Charset.forName("UTF-8")))));
    }

    @Test
    public void deviceLineNamesMakerModelSocAbiAndSettings() {
        assertEquals("Google Pixel 7 (SoC Tensor G2, arm64-v8a), Android 14 (API 34), CPU, 1 thread(s)",
            LatencyReport.describeDevice("Google", "Pixel 7", "Tensor G2", "arm64-v8a", "14", 34, "CPU", 1));
        assertEquals("samsung SM-G991B (arm64-v8a), Android 13 (API 33), GPU, 4 thread(s)",
            LatencyReport.describeDevice("samsung", "samsung SM-G991B", null, "arm64-v8a", "13", 33, "GPU", 4));
        assertEquals("unknown device, Android 7.0 (API 24), NNAPI, 2 thread(s)",
            LatencyReport.describeDevice(null, "", "unknown", null, "7.0", 24, "NNAPI", 2));
    }
}
