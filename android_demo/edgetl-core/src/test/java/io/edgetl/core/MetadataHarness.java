package io.edgetl.core;

import java.io.File;
import java.io.RandomAccessFile;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.Charset;

/**
 * For tests/test_android_build.py: what the app reads from a .tflite, one "key\tvalue" line each
 * (name, author, license, mean, std, labels joined by '|', and the embedded contract's labels).
 * The file is memory-mapped, as the app maps its assets.
 */
public final class MetadataHarness {
    private MetadataHarness() {
    }

    public static void main(String[] args) throws Exception {
        RandomAccessFile file = new RandomAccessFile(new File(args[0]), "r");
        try {
            MappedByteBuffer model = file.getChannel().map(FileChannel.MapMode.READ_ONLY, 0, file.length());
            TfliteMetadata md = TfliteMetadata.read(model);
            if (md == null) {
                System.out.println("metadata\tnone");
                return;
            }
            System.out.println("name\t" + md.name);
            System.out.println("author\t" + md.author);
            System.out.println("license\t" + md.license);
            System.out.println("mean\t" + floats(md.mean));
            System.out.println("std\t" + floats(md.std));
            System.out.println("labels\t" + join(md.labels));
            byte[] contract = ZipAppendix.read(model, "edgetl_contract.json");
            if (contract != null) {
                System.out.println("contract_labels\t" + join(ModelContract.parse(new String(contract, Charset.forName("UTF-8"))).labels));
            }
        } finally {
            file.close();
        }
    }

    private static String floats(float[] v) {
        if (v == null) {
            return "none";
        }
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < v.length; i++) {
            s.append(i == 0 ? "" : ",").append(v[i]);
        }
        return s.toString();
    }

    private static String join(java.util.List<String> labels) {
        if (labels == null) {
            return "none";
        }
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < labels.size(); i++) {
            s.append(i == 0 ? "" : "|").append(labels.get(i));
        }
        return s.toString();
    }
}
