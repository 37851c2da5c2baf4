// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// androidx.activity:activity 1.9. Never packaged into the APK: Gradle compiles against the real library.
package androidx.activity.result;

public abstract class ActivityResultLauncher<I> {
    public void launch(I input) {
        throw new RuntimeException("Stub!");
    }

    public abstract void unregister();
}
