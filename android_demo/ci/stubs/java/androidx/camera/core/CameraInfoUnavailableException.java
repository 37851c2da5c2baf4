// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// androidx.camera:camera-core 1.4.1. Never packaged into the APK: Gradle compiles against the real library.
package androidx.camera.core;

public class CameraInfoUnavailableException extends Exception {
    public CameraInfoUnavailableException(String message) {
        super(message);
    }
}
