package io.edgetl.demo

import android.app.Activity
import android.view.View

// findViewById is generic from API 26 (compileSdk 35 in Gradle) but not in the API 23 jar the CI compile
// check uses; reading it as a View first compiles against both.

@Suppress("UNCHECKED_CAST")
fun <T : View> Activity.view(id: Int): T {
    val v: View = findViewById(id)
    return v as T
}

@Suppress("UNCHECKED_CAST")
fun <T : View> View.view(id: Int): T {
    val v: View = findViewById(id)
    return v as T
}
