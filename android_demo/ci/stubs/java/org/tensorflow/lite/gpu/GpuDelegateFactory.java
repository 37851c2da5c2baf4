// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// com.google.ai.edge.litert:litert-gpu / litert-gpu-api 1.4.0. Never packaged into the APK: Gradle compiles against the real library.
package org.tensorflow.lite.gpu;

public class GpuDelegateFactory {
    public static class Options {
        public Options() {
        }
    }
}
