// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// androidx.appcompat:appcompat 1.7.0 (via androidx.fragment.app.FragmentActivity). Never packaged into the APK: Gradle compiles against the real library.
package androidx.appcompat.app;

public class AppCompatActivity extends androidx.activity.ComponentActivity {
    public AppCompatActivity() {
    }
}
