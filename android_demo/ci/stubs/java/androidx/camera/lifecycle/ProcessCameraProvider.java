// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// androidx.camera:camera-lifecycle 1.4.1. Never packaged into the APK: Gradle compiles against the real library.
package androidx.camera.lifecycle;

import android.content.Context;
import androidx.camera.core.Camera;
import androidx.camera.core.CameraInfoUnavailableException;
import androidx.camera.core.CameraSelector;
import androidx.camera.core.UseCase;
import androidx.lifecycle.LifecycleOwner;
import com.google.common.util.concurrent.ListenableFuture;

public final class ProcessCameraProvider {
    private ProcessCameraProvider() {
    }

    public static ListenableFuture<ProcessCameraProvider> getInstance(Context context) {
        throw new RuntimeException("Stub!");
    }

    public Camera bindToLifecycle(LifecycleOwner lifecycleOwner, CameraSelector cameraSelector, UseCase... useCases) {
        throw new RuntimeException("Stub!");
    }

    public void unbindAll() {
        throw new RuntimeException("Stub!");
    }

    public boolean hasCamera(CameraSelector cameraSelector) throws CameraInfoUnavailableException {
        throw new RuntimeException("Stub!");
    }
}
