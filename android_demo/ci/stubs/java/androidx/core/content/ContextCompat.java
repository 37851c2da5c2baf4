// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// androidx.core:core 1.15.0. Never packaged into the APK: Gradle compiles against the real library.
package androidx.core.content;

import android.content.Context;
import java.util.concurrent.Executor;

public class ContextCompat {
    protected ContextCompat() {
    }

    public static int checkSelfPermission(Context context, String permission) {
        throw new RuntimeException("Stub!");
    }

    public static Executor getMainExecutor(Context context) {
        throw new RuntimeException("Stub!");
    }
}
