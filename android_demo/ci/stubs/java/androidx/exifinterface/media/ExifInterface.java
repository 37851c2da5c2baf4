// COMPILE-ONLY STUB (edgetl CI, android_demo/ci/check.sh): only the signatures the demo app uses, as in
// androidx.exifinterface:exifinterface 1.3.7. Never packaged into the APK: Gradle compiles against the real library.
package androidx.exifinterface.media;

import java.io.IOException;
import java.io.InputStream;

public class ExifInterface {
    public ExifInterface(InputStream inputStream) throws IOException {
        throw new RuntimeException("Stub!");
    }

    public int getRotationDegrees() {
        throw new RuntimeException("Stub!");
    }
}
