// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// com.google.ai.edge.litert:litert 1.4.0. Never packaged into the APK: Gradle compiles against the real library.
package org.tensorflow.lite;

import java.nio.ByteBuffer;

public final class Interpreter implements AutoCloseable {
    public Interpreter(ByteBuffer byteBuffer, Interpreter.Options options) {
        throw new RuntimeException("Stub!");
    }

    public void run(Object input, Object output) {
        throw new RuntimeException("Stub!");
    }

    public void runForMultipleInputsOutputs(Object[] inputs, java.util.Map<Integer, Object> outputs) {
        throw new RuntimeException("Stub!");
    }

    public int getInputTensorCount() {
        throw new RuntimeException("Stub!");
    }

    public int getOutputTensorCount() {
        throw new RuntimeException("Stub!");
    }

    public Tensor getInputTensor(int inputIndex) {
        throw new RuntimeException("Stub!");
    }

    public Tensor getOutputTensor(int outputIndex) {
        throw new RuntimeException("Stub!");
    }

    @Override
    public void close() {
        throw new RuntimeException("Stub!");
    }

    public static class Options {
        public Options() {
        }

        public Options setNumThreads(int numThreads) {
            throw new RuntimeException("Stub!");
        }

        public Options addDelegate(Delegate delegate) {
            throw new RuntimeException("Stub!");
        }

        public Options setUseNNAPI(boolean useNNAPI) {
            throw new RuntimeException("Stub!");
        }
    }
}
