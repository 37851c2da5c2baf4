// Plain-Java core of the demo app: model.json / labels.txt parsing, RGB -> input tensor, output -> top-k.
// No android.* imports and Java 8 without lambdas, so it builds and its JUnit tests run anywhere
// (also with Debian's javac + junit4 on edgetl's CI, see tests/test_android.py).
plugins {
    `java-library`
}

java {
    sourceCompatibility = JavaVersion.VERSION_1_8
    targetCompatibility = JavaVersion.VERSION_1_8
}

tasks.withType<JavaCompile>().configureEach {
    options.encoding = "UTF-8"
}

dependencies {
    testImplementation(libs.junit)
}
