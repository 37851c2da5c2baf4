// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// com.google.ai.edge.litert:litert 1.4.0. Never packaged into the APK: Gradle compiles against the real library.
package org.tensorflow.lite.nnapi;

import org.tensorflow.lite.Delegate;

public class NnApiDelegate implements Delegate, AutoCloseable {
    public NnApiDelegate() {
        throw new RuntimeException("Stub!");
    }

    @Override
    public long getNativeHandle() {
        throw new RuntimeException("Stub!");
    }

    @Override
    public void close() {
        throw new RuntimeException("Stub!");
    }
}
