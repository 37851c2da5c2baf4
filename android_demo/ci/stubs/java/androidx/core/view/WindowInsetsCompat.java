// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// androidx.core:core 1.15.0. Never packaged into the APK: Gradle compiles against the real library.
package androidx.core.view;

import androidx.core.graphics.Insets;

public class WindowInsetsCompat {
    private WindowInsetsCompat() {
    }

    public Insets getInsets(int typeMask) {
        throw new RuntimeException("Stub!");
    }

    public static final class Type {
        private Type() {
        }

        public static int systemBars() {
            throw new RuntimeException("Stub!");
        }

        public static int displayCutout() {
            throw new RuntimeException("Stub!");
        }

        public static int ime() {
            throw new RuntimeException("Stub!");
        }
    }
}
