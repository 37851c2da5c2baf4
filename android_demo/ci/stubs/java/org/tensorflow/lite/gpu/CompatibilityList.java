// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// com.google.ai.edge.litert:litert-gpu / litert-gpu-api 1.4.0. Never packaged into the APK: Gradle compiles against the real library.
package org.tensorflow.lite.gpu;

import java.io.Closeable;

public class CompatibilityList implements Closeable {
    public CompatibilityList() {
        throw new RuntimeException("Stub!");
    }

    public boolean isDelegateSupportedOnThisDevice() {
        throw new RuntimeException("Stub!");
    }

    public GpuDelegateFactory.Options getBestOptionsForThisDevice() {
        throw new RuntimeException("Stub!");
    }

    @Override
    public void close() {
        throw new RuntimeException("Stub!");
    }
}
