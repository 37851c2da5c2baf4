// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// androidx.core:core 1.15.0. Never packaged into the APK: Gradle compiles against the real library.
package androidx.core.view;

import android.view.View;

public interface OnApplyWindowInsetsListener {
    WindowInsetsCompat onApplyWindowInsets(View v, WindowInsetsCompat insets);
}
