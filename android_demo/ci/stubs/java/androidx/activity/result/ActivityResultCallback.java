// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// androidx.activity:activity 1.9. Never packaged into the APK: Gradle compiles against the real library.
package androidx.activity.result;

public interface ActivityResultCallback<O> {
    void onActivityResult(O result);
}
