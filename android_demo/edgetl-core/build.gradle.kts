// Plain-Java core of the demo app: model.json / labels.txt parsing, RGB -> input tensor, output -> top-k.
// No android.* imports and Java 8 without lambdas, so it builds and its JUnit tests run anywhere
// (also with Debian's javac + junit4 on edgetl's CI, see tests/test_android.py).
plugins {
    `java-library`
}

// --release 8 (not sourceCompatibility): checks the Java 8 API too, not only the language level.
tasks.withType<JavaCompile>().configureEach {
    options.encoding = "UTF-8"
    options.release.set(8)
}

dependencies {
    testImplementation(libs.junit)
}
