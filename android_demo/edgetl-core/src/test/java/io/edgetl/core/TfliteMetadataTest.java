package io.edgetl.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import org.junit.Test;

/**
 * The metadata reader against hand-built files laid out like metadata_schema.fbs / schema.fbs (see
 * {@link FlatWriter}); tests/test_android_build.py also runs it on a file edgetl's own metadata writer made.
 */
public class TfliteMetadataTest {

    /** ModelMetadata: name, version, author, licence; input NormalizationOptions; output labels file. */
    static byte[] metadata(float[] mean, float[] std, String labelsFile) {
        FlatWriter m = new FlatWriter("M001");
        int root = m.table(8);
        m.root(root);
        m.ref(root, 0, m.string("flowers classifier"));
        m.ref(root, 2, m.string("7"));
        int subs = m.vector(1);
        m.ref(root, 3, subs);
        m.ref(root, 4, m.string("edgetl"));
        m.ref(root, 5, m.string("Apache-2.0"));
        int sub = m.table(5);
        m.element(subs, 0, sub);
        int inputs = m.vector(1);
        m.ref(sub, 2, inputs);
        int outputs = m.vector(1);
        m.ref(sub, 3, outputs);
        int in = m.table(7);
        m.element(inputs, 0, in);
        int units = m.vector(2);
        m.ref(in, 4, units);
        int other = m.table(2);           // a ScoreThresholdingOptions unit first: skipped
        m.element(units, 0, other);
        m.scalarByte(other, 0, 3);
        int unit = m.table(2);
        m.element(units, 1, unit);
        if (mean != null) {
            m.scalarByte(unit, 0, TfliteMetadata.NORMALIZATION_OPTIONS);
            int norm = m.table(2);
            m.ref(unit, 1, norm);
            m.ref(norm, 0, m.floats(mean));
            m.ref(norm, 1, m.floats(std));
        }
        int out = m.table(7);
        m.element(outputs, 0, out);
        int files = m.vector(2);
        m.ref(out, 6, files);
        int descriptions = m.table(5);
        m.element(files, 0, descriptions);
        m.ref(descriptions, 0, m.string("notes.txt"));
        m.scalarByte(descriptions, 2, 1);
        int labels = m.table(5);
        m.element(files, 1, labels);
        m.ref(labels, 0, m.string(labelsFile));
        m.scalarByte(labels, 2, TfliteMetadata.TENSOR_AXIS_LABELS);
        return m.finish();
    }

    /** A Model with two buffers (the second holds {@code metadata}) and a TFLITE_METADATA entry, or none. */
    static byte[] model(byte[] metadata) {
        FlatWriter f = new FlatWriter("TFL3");
        int model = f.table(8);
        f.root(model);
        f.scalarInt(model, 0, 3);
        int buffers = f.vector(2);
        f.ref(model, 4, buffers);
        int empty = f.table(3);
        f.element(buffers, 0, empty);
        int held = f.table(3);
        f.element(buffers, 1, held);
        if (metadata != null) {
            int entries = f.vector(2);
            f.ref(model, 6, entries);
            int minRuntime = f.table(2);
            f.element(entries, 0, minRuntime);
            f.ref(minRuntime, 0, f.string("min_runtime_version"));
            f.scalarInt(minRuntime, 1, 0);
            int entry = f.table(2);
            f.element(entries, 1, entry);
            f.ref(entry, 0, f.string(TfliteMetadata.BUFFER_NAME));
            f.scalarInt(entry, 1, 1);
            f.ref(held, 0, f.bytes(metadata));
        }
        return f.finish();
    }

    private static ByteBuffer direct(byte[] bytes) {
        ByteBuffer b = ByteBuffer.allocateDirect(bytes.length).put(bytes);
        b.rewind();
        return b;
    }

    @Test
    public void readsNamesNormalisationAndLabelsFromTheAppendedZip() throws IOException {
        byte[] file = ZipAppendixTest.withZip(model(metadata(new float[] {127.5f, 120f, 110f}, new float[] {127.5f, 60f, 50f}, "labels.txt")),
                false, "labels.txt", "daisy\nroses\ntulips\n");
        TfliteMetadata md = TfliteMetadata.read(direct(file));
        assertEquals("flowers classifier", md.name);
        assertEquals("7", md.version);
        assertEquals("edgetl", md.author);
        assertEquals("Apache-2.0", md.license);
        assertNull(md.description);
        assertArrayEquals(new float[] {127.5f, 120f, 110f}, md.mean, 0f);
        assertArrayEquals(new float[] {127.5f, 60f, 50f}, md.std, 0f);
        assertEquals("labels.txt", md.labelsFile);
        assertEquals(Arrays.asList("daisy", "roses", "tulips"), md.labels);
    }

    @Test
    public void aSingleMeanAndStdApplyToAllThreeChannels() throws IOException {
        byte[] file = ZipAppendixTest.withZip(model(metadata(new float[] {0f}, new float[] {255f}, "l.txt")), true, "l.txt", "a\nb\n");
        TfliteMetadata md = TfliteMetadata.read(direct(file));
        assertArrayEquals(new float[] {0f, 0f, 0f}, md.mean, 0f);
        assertArrayEquals(new float[] {255f, 255f, 255f}, md.std, 0f);
    }

    @Test
    public void noNormalisationUnitLeavesMeanAndStdToTheContract() throws IOException {
        byte[] file = ZipAppendixTest.withZip(model(metadata(null, null, "labels.txt")), false, "labels.txt", "a\nb\n");
        TfliteMetadata md = TfliteMetadata.read(direct(file));
        assertNull(md.mean);
        assertNull(md.std);
        assertEquals(Arrays.asList("a", "b"), md.labels);
    }

    @Test
    public void aModelWithoutMetadataGivesNull() {
        assertNull(TfliteMetadata.read(direct(model(null))));
    }

    @Test
    public void aLabelsFileTheModelDoesNotCarryIsAnError() {
        try {
            TfliteMetadata.read(direct(model(metadata(new float[] {0f}, new float[] {1f}, "labels.txt"))));
            fail("expected ContractException");
        } catch (ContractException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("labels.txt"));
        }
    }

    @Test
    public void aFileThatIsNotTfliteIsAnError() {
        try {
            TfliteMetadata.read(direct(new byte[64]));
            fail("expected ContractException");
        } catch (ContractException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("TFL3"));
        }
    }

    @Test
    public void twoNormalisationValuesAreRefused() throws IOException {
        byte[] file = ZipAppendixTest.withZip(model(metadata(new float[] {1f, 2f}, new float[] {1f, 2f}, "l.txt")), false, "l.txt", "a\n");
        try {
            TfliteMetadata.read(direct(file));
            fail("expected ContractException");
        } catch (ContractException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("mean"));
        }
    }
}
