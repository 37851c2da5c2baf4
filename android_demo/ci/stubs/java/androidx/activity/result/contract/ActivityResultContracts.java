// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// androidx.activity:activity 1.9. Never packaged into the APK: Gradle compiles against the real library.
package androidx.activity.result.contract;

import android.content.Context;
import android.content.Intent;
import android.net.Uri;

public final class ActivityResultContracts {
    private ActivityResultContracts() {
    }

    public static final class RequestPermission extends ActivityResultContract<String, Boolean> {
        public RequestPermission() {
        }

        public Intent createIntent(Context context, String input) {
            throw new RuntimeException("Stub!");
        }

        public Boolean parseResult(int resultCode, Intent intent) {
            throw new RuntimeException("Stub!");
        }
    }

    public static class GetContent extends ActivityResultContract<String, Uri> {
        public GetContent() {
        }

        public Intent createIntent(Context context, String input) {
            throw new RuntimeException("Stub!");
        }

        public Uri parseResult(int resultCode, Intent intent) {
            throw new RuntimeException("Stub!");
        }
    }
}
