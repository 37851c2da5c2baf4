// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// com.google.android.material:material 1.12.0. Never packaged into the APK: Gradle compiles against the real library.
package com.google.android.material.bottomsheet;

import android.content.Context;
import android.view.View;

public class BottomSheetDialog extends androidx.appcompat.app.AppCompatDialog {
    public BottomSheetDialog(Context context) {
        super(context);
    }

    @Override
    public void setContentView(View view) {
        throw new RuntimeException("Stub!");
    }
}
