package io.edgetl.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.Charset;
import java.util.Arrays;

/**
 * Test helper: writes small, valid flatbuffers by hand (tables laid out parent first, children after, so
 * every uoffset points forward), to build TFLite models with metadata without the flatbuffers library.
 * Each field gets a 4-byte slot (8 for longs are not needed here); absent fields have no vtable entry.
 */
final class FlatWriter {
    private static final Charset UTF8 = Charset.forName("UTF-8");
    private final ByteBuffer b = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
    private int size;

    FlatWriter(String identifier) {
        byte[] id = identifier.getBytes(UTF8);
        for (int i = 0; i < 4; i++) {
            b.put(4 + i, id[i]);
        }
        size = 8;
    }

    private int alloc(int n, int align) {
        size = (size + align - 1) / align * align;
        int p = size;
        size += n;
        return p;
    }

    void root(int table) {
        b.putInt(0, table);
    }

    /** A table with room for fields 0..n-1, all absent until set. */
    int table(int n) {
        int vt = alloc(4 + 2 * n, 4);
        b.putShort(vt, (short) (4 + 2 * n));
        b.putShort(vt + 2, (short) (4 + 4 * n));
        int t = alloc(4 + 4 * n, 4);
        b.putInt(t, t - vt);
        return t;
    }

    private int slot(int table, int id) {
        int vt = table - b.getInt(table);
        b.putShort(vt + 4 + 2 * id, (short) (4 + 4 * id));
        return table + 4 + 4 * id;
    }

    void scalarInt(int table, int id, int v) {
        b.putInt(slot(table, id), v);
    }

    void scalarByte(int table, int id, int v) {
        b.put(slot(table, id), (byte) v);
    }

    void ref(int table, int id, int target) {
        point(slot(table, id), target);
    }

    private void point(int at, int target) {
        if (target <= at) {
            throw new IllegalStateException("uoffsets point forward: create the child after its parent");
        }
        b.putInt(at, target - at);
    }

    int string(String s) {
        byte[] bytes = s.getBytes(UTF8);
        int v = alloc(4 + bytes.length + 1, 4);
        b.putInt(v, bytes.length);
        for (int i = 0; i < bytes.length; i++) {
            b.put(v + 4 + i, bytes[i]);
        }
        return v;
    }

    /** A vector of n references, filled with {@link #element}. */
    int vector(int n) {
        int v = alloc(4 + 4 * n, 4);
        b.putInt(v, n);
        return v;
    }

    void element(int vector, int i, int target) {
        point(vector + 4 + 4 * i, target);
    }

    int floats(float[] values) {
        int v = alloc(4 + 4 * values.length, 4);
        b.putInt(v, values.length);
        for (int i = 0; i < values.length; i++) {
            b.putFloat(v + 4 + 4 * i, values[i]);
        }
        return v;
    }

    int bytes(byte[] data) {
        int v = alloc(4 + data.length, 16);
        b.putInt(v, data.length);
        for (int i = 0; i < data.length; i++) {
            b.put(v + 4 + i, data[i]);
        }
        return v;
    }

    byte[] finish() {
        return Arrays.copyOf(b.array(), size);
    }
}
