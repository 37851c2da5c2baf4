// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// androidx.lifecycle:lifecycle-common 2.8. Never packaged into the APK: Gradle compiles against the real library.
package androidx.lifecycle;

public interface LifecycleOwner {
    Lifecycle getLifecycle();
}
