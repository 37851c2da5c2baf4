// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// com.google.ai.edge.litert:litert 1.4.0. Never packaged into the APK: Gradle compiles against the real library.
package org.tensorflow.lite;

import java.io.Closeable;

public interface Delegate extends Closeable {
    long getNativeHandle();

    @Override
    default void close() {
    }
}
