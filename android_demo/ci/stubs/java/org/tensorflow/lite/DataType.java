// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// com.google.ai.edge.litert:litert 1.4.0. Never packaged into the APK: Gradle compiles against the real library.
package org.tensorflow.lite;

public enum DataType {
    FLOAT32, INT32, UINT8, INT64, STRING, BOOL, INT16, INT8
}
