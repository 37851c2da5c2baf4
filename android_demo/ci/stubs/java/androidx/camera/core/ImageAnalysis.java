// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// androidx.camera:camera-core 1.4.1. Never packaged into the APK: Gradle compiles against the real library.
package androidx.camera.core;

import java.util.concurrent.Executor;

public final class ImageAnalysis extends UseCase {
    public static final int STRATEGY_KEEP_ONLY_LATEST = 0;
    public static final int STRATEGY_BLOCK_PRODUCER = 1;
    public static final int OUTPUT_IMAGE_FORMAT_YUV_420_888 = 1;
    public static final int OUTPUT_IMAGE_FORMAT_RGBA_8888 = 2;

    private ImageAnalysis() {
    }

    public void setAnalyzer(Executor executor, ImageAnalysis.Analyzer analyzer) {
        throw new RuntimeException("Stub!");
    }

    public void clearAnalyzer() {
        throw new RuntimeException("Stub!");
    }

    public int getTargetRotation() {
        throw new RuntimeException("Stub!");
    }

    public void setTargetRotation(int rotation) {
        throw new RuntimeException("Stub!");
    }

    public interface Analyzer {
        void analyze(ImageProxy image);
    }

    public static final class Builder {
        public Builder() {
        }

        public Builder setBackpressureStrategy(int strategy) {
            throw new RuntimeException("Stub!");
        }

        public Builder setOutputImageFormat(int outputImageFormat) {
            throw new RuntimeException("Stub!");
        }

        public Builder setTargetRotation(int rotation) {
            throw new RuntimeException("Stub!");
        }

        public ImageAnalysis build() {
            throw new RuntimeException("Stub!");
        }
    }
}
