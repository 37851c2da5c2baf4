package io.edgetl.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.Charset;
import java.util.List;

/**
 * The TFLite metadata a classifier file may carry (metadata_schema.fbs, the buffer named
 * {@code TFLITE_METADATA}), read with a minimal flatbuffer walk: the model's name/version/author/licence,
 * the input's NormalizationOptions (mean/std) and the output's TENSOR_AXIS_LABELS associated file,
 * whose text comes from the zip the metadata populator appends to the model ({@link ZipAppendix}).
 * Only what the demo needs is read; a file without metadata gives {@code null} from {@link #read}.
 */
public final class TfliteMetadata {
    public static final String BUFFER_NAME = "TFLITE_METADATA";
    static final int NORMALIZATION_OPTIONS = 1;   // ProcessUnitOptions union
    static final int TENSOR_AXIS_LABELS = 2;      // AssociatedFileType
    private static final Charset UTF8 = Charset.forName("UTF-8");

    public final String name;
    public final String version;
    public final String description;
    public final String author;
    public final String license;
    /** Per-channel mean/std of the input, 3 values each (a single value is repeated), or null. */
    public final float[] mean;
    public final float[] std;
    /** Name of the output's TENSOR_AXIS_LABELS file, or null. */
    public final String labelsFile;
    /** The labels read from that file inside the model, or null when there is none. */
    public final List<String> labels;

    private TfliteMetadata(String name, String version, String description, String author, String license,
                           float[] mean, float[] std, String labelsFile, List<String> labels) {
        this.name = name;
        this.version = version;
        this.description = description;
        this.author = author;
        this.license = license;
        this.mean = mean;
        this.std = std;
        this.labelsFile = labelsFile;
        this.labels = labels;
    }

    /** The metadata of a .tflite file (whole file, from index 0), or null when it has none. */
    public static TfliteMetadata read(ByteBuffer model) {
        ByteBuffer b = model.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        try {
            int meta = metadataBuffer(b);
            if (meta < 0) {
                return null;
            }
            return parse(b, meta, model);
        } catch (IndexOutOfBoundsException e) {
            throw new ContractException("the model's TFLite metadata is malformed (" + e + "); re-export it with edgetl");
        } catch (IllegalArgumentException e) {
            throw new ContractException("the model's TFLite metadata is malformed (" + e.getMessage() + "); re-export it with edgetl");
        }
    }

    /** Absolute position of the ModelMetadata root table, or -1 when the model has no TFLITE_METADATA buffer. */
    private static int metadataBuffer(ByteBuffer b) {
        if (b.limit() < 8 || b.get(4) != 'T' || b.get(5) != 'F' || b.get(6) != 'L' || b.get(7) != '3') {
            throw new ContractException("the file is not a TFLite model (no TFL3 identifier)");
        }
        int model = indirect(b, 0);
        int vec = vectorField(b, model, 6);          // Model.metadata: [Metadata]
        int bufVec = vectorField(b, model, 4);       // Model.buffers: [Buffer]
        if (vec == 0 || bufVec == 0) {
            return -1;
        }
        for (int i = 0; i < b.getInt(vec); i++) {
            int entry = indirect(b, vec + 4 + 4 * i);
            if (BUFFER_NAME.equals(string(b, entry, 0))) {
                int index = scalarInt(b, entry, 1);   // Metadata.buffer: uint
                if (index < 0 || index >= b.getInt(bufVec)) {
                    throw new IllegalArgumentException("metadata buffer index " + index + " out of range");
                }
                int buffer = indirect(b, bufVec + 4 + 4 * index);
                int start = bufferStart(b, buffer);
                return start < 0 ? -1 : start + b.getInt(start);   // ModelMetadata root offset
            }
        }
        return -1;
    }

    /** Start of a Buffer's bytes: its data vector, or (files > 2 GB style) offset/size outside the flatbuffer. */
    private static int bufferStart(ByteBuffer b, int buffer) {
        int vec = vectorField(b, buffer, 0);
        if (vec != 0 && b.getInt(vec) > 0) {
            return vec + 4;
        }
        int offset = field(b, buffer, 1);
        if (offset != 0) {
            long at = b.getLong(buffer + offset);
            if (at > 1 && at < b.limit()) {
                return (int) at;
            }
        }
        return -1;
    }

    private static TfliteMetadata parse(ByteBuffer b, int root, ByteBuffer model) {
        float[] mean = null;
        float[] std = null;
        String labelsFile = null;
        int subgraphs = vectorField(b, root, 3);
        if (subgraphs != 0 && b.getInt(subgraphs) > 0) {
            int sub = indirect(b, subgraphs + 4);
            int inputs = vectorField(b, sub, 2);
            if (inputs != 0 && b.getInt(inputs) > 0) {
                int tensor = indirect(b, inputs + 4);
                int units = vectorField(b, tensor, 4);   // TensorMetadata.process_units
                for (int i = 0; units != 0 && i < b.getInt(units); i++) {
                    int unit = indirect(b, units + 4 + 4 * i);
                    if (scalarByte(b, unit, 0) == NORMALIZATION_OPTIONS && field(b, unit, 1) != 0) {
                        int options = indirect(b, unit + field(b, unit, 1));
                        mean = channels(floats(b, options, 0), "mean");
                        std = channels(floats(b, options, 1), "std");
                    }
                }
            }
            int outputs = vectorField(b, sub, 3);
            if (outputs != 0 && b.getInt(outputs) > 0) {
                labelsFile = axisLabels(b, indirect(b, outputs + 4));
            }
        }
        List<String> labels = null;
        if (labelsFile != null) {
            byte[] text = ZipAppendix.read(model, labelsFile);
            if (text == null) {
                throw new ContractException("the model's metadata names the labels file " + labelsFile
                        + " but the file does not carry it; re-export the model with edgetl");
            }
            labels = Labels.parse(new String(text, UTF8));
        }
        return new TfliteMetadata(string(b, root, 0), string(b, root, 2), string(b, root, 1), string(b, root, 4),
                string(b, root, 5), mean, std, labelsFile, labels);
    }

    private static String axisLabels(ByteBuffer b, int tensor) {
        int files = vectorField(b, tensor, 6);   // TensorMetadata.associated_files
        for (int i = 0; files != 0 && i < b.getInt(files); i++) {
            int file = indirect(b, files + 4 + 4 * i);
            if (scalarByte(b, file, 2) == TENSOR_AXIS_LABELS) {
                return string(b, file, 0);
            }
        }
        return null;
    }

    private static float[] channels(float[] v, String what) {
        if (v == null) {
            return null;
        }
        if (v.length == 1) {
            return new float[] {v[0], v[0], v[0]};
        }
        if (v.length != 3) {
            throw new ContractException("the model's metadata has " + v.length + " normalisation " + what
                    + " values; an RGB input needs 1 or 3");
        }
        return v;
    }

    // ---- minimal flatbuffer access (little endian, positions absolute in the buffer) ----

    /** Offset of field {@code id} inside the table at {@code table}, or 0 when absent. */
    static int field(ByteBuffer b, int table, int id) {
        int vtable = table - b.getInt(table);
        int vsize = b.getShort(vtable) & 0xFFFF;
        int o = 4 + 2 * id;
        return o < vsize ? b.getShort(vtable + o) & 0xFFFF : 0;
    }

    /** Follow the uoffset stored at {@code at}. */
    static int indirect(ByteBuffer b, int at) {
        return at + b.getInt(at);
    }

    private static int vectorField(ByteBuffer b, int table, int id) {
        int o = field(b, table, id);
        return o == 0 ? 0 : indirect(b, table + o);
    }

    static String string(ByteBuffer b, int table, int id) {
        int v = vectorField(b, table, id);
        if (v == 0) {
            return null;
        }
        byte[] bytes = new byte[b.getInt(v)];
        for (int i = 0; i < bytes.length; i++) {
            bytes[i] = b.get(v + 4 + i);
        }
        return new String(bytes, UTF8);
    }

    private static float[] floats(ByteBuffer b, int table, int id) {
        int v = vectorField(b, table, id);
        if (v == 0) {
            return null;
        }
        float[] out = new float[b.getInt(v)];
        for (int i = 0; i < out.length; i++) {
            out[i] = b.getFloat(v + 4 + 4 * i);
        }
        return out;
    }

    private static int scalarByte(ByteBuffer b, int table, int id) {
        int o = field(b, table, id);
        return o == 0 ? 0 : b.get(table + o);
    }

    private static int scalarInt(ByteBuffer b, int table, int id) {
        int o = field(b, table, id);
        return o == 0 ? 0 : b.getInt(table + o);
    }
}
