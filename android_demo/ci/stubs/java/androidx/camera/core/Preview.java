// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// androidx.camera:camera-core 1.4.1. Never packaged into the APK: Gradle compiles against the real library.
package androidx.camera.core;

public final class Preview extends UseCase {
    private Preview() {
    }

    public void setSurfaceProvider(Preview.SurfaceProvider surfaceProvider) {
        throw new RuntimeException("Stub!");
    }

    public int getTargetRotation() {
        throw new RuntimeException("Stub!");
    }

    public void setTargetRotation(int targetRotation) {
        throw new RuntimeException("Stub!");
    }

    public interface SurfaceProvider {
        void onSurfaceRequested(SurfaceRequest request);
    }

    public static final class Builder {
        public Builder() {
        }

        public Builder setTargetRotation(int rotation) {
            throw new RuntimeException("Stub!");
        }

        public Preview build() {
            throw new RuntimeException("Stub!");
        }
    }
}
