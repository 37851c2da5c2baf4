// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// androidx.camera:camera-view 1.4.1. Never packaged into the APK: Gradle compiles against the real library.
package androidx.camera.view;

import android.content.Context;
import android.util.AttributeSet;
import android.widget.FrameLayout;
import androidx.camera.core.Preview;

public final class PreviewView extends FrameLayout {
    public PreviewView(Context context) {
        super(context);
    }

    public PreviewView(Context context, AttributeSet attrs) {
        super(context, attrs);
    }

    public Preview.SurfaceProvider getSurfaceProvider() {
        throw new RuntimeException("Stub!");
    }
}
