package io.edgetl.demo

/** What the settings sheet controls; immutable, swapped as a whole (read by the analysis thread). */
data class Settings(
    val model: String? = null,
    val accelerator: Classifier.Accelerator = Classifier.Accelerator.CPU,
    val threads: Int = 4,
    val topK: Int = 3,
    val threshold: Float = 0f,
) {
    companion object {
        const val MAX_THREADS = 8
        const val MAX_TOP_K = 10
    }
}
