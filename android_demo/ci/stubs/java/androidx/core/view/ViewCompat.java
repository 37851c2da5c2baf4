// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// androidx.core:core 1.15.0. Never packaged into the APK: Gradle compiles against the real library.
package androidx.core.view;

import android.view.View;

public class ViewCompat {
    protected ViewCompat() {
    }

    public static void setOnApplyWindowInsetsListener(View v, OnApplyWindowInsetsListener listener) {
        throw new RuntimeException("Stub!");
    }

    public static void requestApplyInsets(View view) {
        throw new RuntimeException("Stub!");
    }
}
