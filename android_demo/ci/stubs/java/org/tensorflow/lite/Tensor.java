// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// com.google.ai.edge.litert:litert 1.4.0. Never packaged into the APK: Gradle compiles against the real library.
package org.tensorflow.lite;

public interface Tensor {
    DataType dataType();

    int numDimensions();

    int[] shape();

    int numBytes();

    String name();

    Tensor.QuantizationParams quantizationParams();

    class QuantizationParams {
        public QuantizationParams(float scale, int zeroPoint) {
            throw new RuntimeException("Stub!");
        }

        public float getScale() {
            throw new RuntimeException("Stub!");
        }

        public int getZeroPoint() {
            throw new RuntimeException("Stub!");
        }
    }
}
