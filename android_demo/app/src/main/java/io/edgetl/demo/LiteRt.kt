package io.edgetl.demo

import org.tensorflow.lite.DataType
import org.tensorflow.lite.Delegate
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate
import org.tensorflow.lite.nnapi.NnApiDelegate
import java.io.Closeable
import java.nio.ByteBuffer

/**
 * A LiteRT interpreter on the requested accelerator, created the one way the app creates interpreters
 * (the classifier and the benchmark mode both open models here).
 *
 * A delegate (GPU, NNAPI) that cannot be created or refuses the model never crashes the app: the model
 * falls back to the CPU, [fallback] says why and [description] shows it. Native-library problems surface
 * as [UnsatisfiedLinkError] / [NoClassDefFoundError], hence the `Throwable` catches around delegates.
 */
class LiteRt private constructor(
    val interpreter: Interpreter,
    private var delegate: Delegate?,
    /** What actually runs the model, e.g. "CPU, 4 thread(s)" or "CPU, 4 thread(s) (GPU failed: ...)". */
    val description: String,
    /** Why the requested delegate is not in use (the model runs on the CPU), or null. */
    val fallback: String?,
) : Closeable {

    override fun close() {
        interpreter.close()
        delegate?.let { closeQuietly(it) }
        delegate = null
    }

    companion object {
        fun open(model: ByteBuffer, accelerator: Classifier.Accelerator, threads: Int): LiteRt {
            var note: String? = null
            if (accelerator != Classifier.Accelerator.CPU) {
                val attempt = try {
                    createDelegate(accelerator)
                } catch (t: Throwable) {  // UnsatisfiedLinkError when the delegate's native library is missing
                    note = "${accelerator.name} unavailable: ${firstLine(t)}"
                    null
                }
                if (attempt != null) {
                    try {
                        val created = Interpreter(model, Interpreter.Options().setNumThreads(threads).addDelegate(attempt))
                        return LiteRt(created, attempt, "${accelerator.name}, $threads thread(s)", null)
                    } catch (t: Throwable) {  // the delegate refuses some ops / quantized models on some drivers
                        closeQuietly(attempt)
                        note = "${accelerator.name} failed: ${firstLine(t)}"
                    }
                } else if (note == null) {
                    note = "${accelerator.name} delegate not supported on this device"
                }
            }
            val cpu = Interpreter(model, Interpreter.Options().setNumThreads(threads))
            val description = if (note != null) "CPU, $threads thread(s) ($note)" else "CPU, $threads thread(s)"
            return LiteRt(cpu, null, description, note)
        }

        private fun createDelegate(accelerator: Classifier.Accelerator): Delegate? = when (accelerator) {
            Classifier.Accelerator.GPU -> {
                val compat = CompatibilityList()
                try {
                    if (compat.isDelegateSupportedOnThisDevice) GpuDelegate(compat.bestOptionsForThisDevice) else null
                } finally {
                    compat.close()
                }
            }
            Classifier.Accelerator.NNAPI -> NnApiDelegate()
            Classifier.Accelerator.CPU -> null
        }

        /** The tensor type as edgetl's contract names it: "float32", "uint8", "int8", ... */
        fun dtypeName(type: DataType): String = when (type) {
            DataType.FLOAT32 -> "float32"
            DataType.UINT8 -> "uint8"
            DataType.INT8 -> "int8"
            else -> type.toString().lowercase()
        }

        fun firstLine(t: Throwable): String = t.message?.lineSequence()?.firstOrNull() ?: t.javaClass.simpleName

        private fun closeQuietly(d: Delegate) {
            try {
                d.close()
            } catch (_: Throwable) {
            }
        }
    }
}
