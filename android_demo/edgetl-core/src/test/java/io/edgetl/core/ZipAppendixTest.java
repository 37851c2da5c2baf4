package io.edgetl.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertNull;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.Charset;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.Test;

public class ZipAppendixTest {
    static final Charset UTF8 = Charset.forName("UTF-8");

    /** {@code prefix} followed by a zip of the given name/text pairs (stored or deflated). */
    static byte[] withZip(byte[] prefix, boolean deflate, String... nameText) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(prefix);
        ByteArrayOutputStream zipBytes = new ByteArrayOutputStream();
        ZipOutputStream zip = new ZipOutputStream(zipBytes);
        for (int i = 0; i < nameText.length; i += 2) {
            byte[] data = nameText[i + 1].getBytes(UTF8);
            ZipEntry e = new ZipEntry(nameText[i]);
            if (!deflate) {
                CRC32 crc = new CRC32();
                crc.update(data);
                e.setMethod(ZipEntry.STORED);
                e.setSize(data.length);
                e.setCompressedSize(data.length);
                e.setCrc(crc.getValue());
            }
            zip.putNextEntry(e);
            zip.write(data);
            zip.closeEntry();
        }
        zip.close();
        out.write(zipBytes.toByteArray());
        return out.toByteArray();
    }

    private static ByteBuffer direct(byte[] bytes) {
        ByteBuffer b = ByteBuffer.allocateDirect(bytes.length).put(bytes);
        b.rewind();
        return b;
    }

    @Test
    public void readsStoredAndDeflatedEntriesAfterAPrefix() throws IOException {
        byte[] prefix = "TFL3-not-really-a-model-but-some-bytes".getBytes(UTF8);
        String labels = "daisy\ndandelion\nroses\nsunflowers\ntulips\n";
        for (boolean deflate : new boolean[] {false, true}) {
            ByteBuffer file = direct(withZip(prefix, deflate, "other.json", "{}", "labels.txt", labels));
            assertArrayEquals(labels.getBytes(UTF8), ZipAppendix.read(file, "labels.txt"));
            assertArrayEquals("{}".getBytes(UTF8), ZipAppendix.read(file, "other.json"));
            assertNull(ZipAppendix.read(file, "missing.txt"));
        }
    }

    @Test
    public void aFileWithoutZipHasNoEntries() {
        assertNull(ZipAppendix.read(direct(new byte[100]), "labels.txt"));
        assertNull(ZipAppendix.read(direct(new byte[3]), "labels.txt"));
    }
}
