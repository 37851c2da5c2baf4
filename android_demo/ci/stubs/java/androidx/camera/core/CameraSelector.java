// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// androidx.camera:camera-core 1.4.1. Never packaged into the APK: Gradle compiles against the real library.
package androidx.camera.core;

public final class CameraSelector {
    public static final int LENS_FACING_FRONT = 0;
    public static final int LENS_FACING_BACK = 1;
    public static final CameraSelector DEFAULT_FRONT_CAMERA = null;
    public static final CameraSelector DEFAULT_BACK_CAMERA = null;

    private CameraSelector() {
    }
}
