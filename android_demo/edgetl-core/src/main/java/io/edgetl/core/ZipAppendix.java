package io.edgetl.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.Charset;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * Reads one file from the zip archive appended to a .tflite file (how the TFLite metadata populator packs
 * associated files such as labels.txt), straight from the model's ByteBuffer: the end-of-central-directory
 * record, the central directory, then the entry's bytes, stored or deflated ({@link Inflater}).
 * Works whether the archive's offsets count from the start of the file or of the archive.
 */
public final class ZipAppendix {
    private static final int EOCD = 0x06054b50;
    private static final int CENTRAL = 0x02014b50;
    private static final int LOCAL = 0x04034b50;
    private static final Charset UTF8 = Charset.forName("UTF-8");

    private ZipAppendix() {
    }

    /** The bytes of {@code name}, or null when the buffer has no appended zip or the zip has no such entry. */
    public static byte[] read(ByteBuffer file, String name) {
        ByteBuffer b = file.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        int eocd = findEnd(b);
        if (eocd < 0) {
            return null;
        }
        int entries = b.getShort(eocd + 10) & 0xFFFF;
        int cdSize = b.getInt(eocd + 12);
        int cdOffset = b.getInt(eocd + 16);
        int cdStart = eocd - cdSize;
        if (cdSize < 0 || cdStart < 0) {
            throw new ContractException("the zip appended to the model is malformed");
        }
        int shift = cdStart - cdOffset;   // 0 when offsets count from the start of the file
        int p = cdStart;
        for (int i = 0; i < entries; i++) {
            if (b.getInt(p) != CENTRAL) {
                throw new ContractException("the zip appended to the model has a malformed central directory");
            }
            int method = b.getShort(p + 10) & 0xFFFF;
            int compressed = b.getInt(p + 20);
            int size = b.getInt(p + 24);
            int nameLen = b.getShort(p + 28) & 0xFFFF;
            int extraLen = b.getShort(p + 30) & 0xFFFF;
            int commentLen = b.getShort(p + 32) & 0xFFFF;
            int local = b.getInt(p + 42) + shift;
            if (name.equals(text(b, p + 46, nameLen))) {
                return entry(b, local, method, compressed, size, name);
            }
            p += 46 + nameLen + extraLen + commentLen;
        }
        return null;
    }

    private static int findEnd(ByteBuffer b) {
        int stop = Math.max(0, b.limit() - 22 - 0xFFFF);
        for (int p = b.limit() - 22; p >= stop; p--) {
            if (b.getInt(p) == EOCD && p + 22 + (b.getShort(p + 20) & 0xFFFF) == b.limit()) {
                return p;
            }
        }
        return -1;
    }

    private static byte[] entry(ByteBuffer b, int local, int method, int compressed, int size, String name) {
        if (local < 0 || b.getInt(local) != LOCAL) {
            throw new ContractException("the zip appended to the model has no local header for " + name);
        }
        int data = local + 30 + (b.getShort(local + 26) & 0xFFFF) + (b.getShort(local + 28) & 0xFFFF);
        byte[] raw = new byte[compressed];
        for (int i = 0; i < compressed; i++) {
            raw[i] = b.get(data + i);
        }
        if (method == 0) {
            return raw;
        }
        if (method != 8) {
            throw new ContractException(name + " in the model's zip uses compression method " + method + "; only stored and deflated are read");
        }
        Inflater inflater = new Inflater(true);
        try {
            inflater.setInput(raw);
            byte[] out = new byte[size];
            int n = 0;
            while (n < size && !inflater.finished()) {
                int got = inflater.inflate(out, n, size - n);
                if (got == 0 && (inflater.needsInput() || inflater.needsDictionary())) {
                    break;
                }
                n += got;
            }
            if (n != size) {
                throw new ContractException(name + " in the model's zip is truncated");
            }
            return out;
        } catch (DataFormatException e) {
            throw new ContractException(name + " in the model's zip is corrupt: " + e.getMessage());
        } finally {
            inflater.end();
        }
    }

    private static String text(ByteBuffer b, int at, int len) {
        byte[] bytes = new byte[len];
        for (int i = 0; i < len; i++) {
            bytes[i] = b.get(at + i);
        }
        return new String(bytes, UTF8);
    }
}
