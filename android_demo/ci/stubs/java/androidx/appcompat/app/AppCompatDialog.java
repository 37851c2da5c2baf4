// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// androidx.appcompat:appcompat 1.7.0. Never packaged into the APK: Gradle compiles against the real library.
package androidx.appcompat.app;

import android.content.Context;
import android.view.View;

public class AppCompatDialog extends android.app.Dialog {
    public AppCompatDialog(Context context) {
        super(context);
    }

    @Override
    public void setContentView(View view) {
        throw new RuntimeException("Stub!");
    }
}
