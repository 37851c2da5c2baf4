// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// androidx.activity:activity 1.9 (via androidx.core.app.ComponentActivity). Never packaged into the APK: Gradle compiles against the real library.
package androidx.activity;

import androidx.activity.result.ActivityResultCallback;
import androidx.activity.result.ActivityResultLauncher;
import androidx.activity.result.contract.ActivityResultContract;
import androidx.lifecycle.Lifecycle;
import androidx.lifecycle.LifecycleOwner;

public class ComponentActivity extends android.app.Activity implements LifecycleOwner {
    public Lifecycle getLifecycle() {
        throw new RuntimeException("Stub!");
    }

    public final <I, O> ActivityResultLauncher<I> registerForActivityResult(
            ActivityResultContract<I, O> contract, ActivityResultCallback<O> callback) {
        throw new RuntimeException("Stub!");
    }
}
