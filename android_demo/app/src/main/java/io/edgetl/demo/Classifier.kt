package io.edgetl.demo

import android.os.SystemClock
import io.edgetl.core.ContractException
import io.edgetl.core.InputEncoder
import io.edgetl.core.OutputDecoder
import io.edgetl.core.Recognition
import io.edgetl.core.TensorSpec
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.Tensor
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate
import java.io.Closeable

/**
 * LiteRT Interpreter + the plain-Java contract code (edgetl-core): RGB pixels in, top-k out.
 * Works unchanged for float and uint8/int8 models: model.json says how to fill and read the tensors,
 * and the interpreter's real tensors are checked against it when the classifier is created.
 */
class Classifier(assets: ModelAssets, threads: Int, wantGpu: Boolean) : Closeable {

    class Result(val top: List<Recognition>, val inferenceMs: Double)

    private val contract = assets.contract
    private val encoder = InputEncoder(contract)
    private val decoder = OutputDecoder(contract)
    private val input = encoder.allocate()
    private val output = decoder.allocate()
    private var gpuDelegate: GpuDelegate? = null
    private val interpreter: Interpreter

    /** What actually runs the model: "GPU" or "CPU"; with a reason when GPU was asked for but not used. */
    val accelerator: String

    init {
        var note = "CPU"
        var created: Interpreter? = null
        if (wantGpu) {
            val compat = CompatibilityList()
            try {
                if (compat.isDelegateSupportedOnThisDevice) {
                    val delegate = GpuDelegate(compat.bestOptionsForThisDevice)
                    try {
                        created = Interpreter(assets.model, Interpreter.Options().addDelegate(delegate))
                        gpuDelegate = delegate
                        note = "GPU"
                    } catch (e: Exception) {  // the delegate refuses some ops / quantized models on some drivers
                        delegate.close()
                        note = "CPU (GPU failed: ${e.message?.lineSequence()?.firstOrNull() ?: e.javaClass.simpleName})"
                    }
                } else {
                    note = "CPU (GPU delegate not supported on this device)"
                }
            } finally {
                compat.close()
            }
        }
        interpreter = created ?: Interpreter(assets.model, Interpreter.Options().setNumThreads(threads))
        accelerator = if (note == "CPU") "CPU, $threads thread(s)" else note
        try {
            val inT = interpreter.getInputTensor(0)
            val outT = interpreter.getOutputTensor(0)
            contract.checkTensors(inT.shape(), spec(inT), outT.shape(), spec(outT))
        } catch (e: ContractException) {
            close()
            throw ModelAssets.AssetProblem("${e.message}\nExport model.tflite and model.json together with `edgetl export android`.")
        }
    }

    private fun spec(t: Tensor): TensorSpec {
        val dtype = when (t.dataType()) {
            DataType.FLOAT32 -> "float32"
            DataType.UINT8 -> "uint8"
            DataType.INT8 -> "int8"
            else -> t.dataType().toString().lowercase()
        }
        val q = t.quantizationParams()
        return TensorSpec(dtype, q.scale, q.zeroPoint)
    }

    /** Upright RGB bytes of any size -> top-3 and the interpreter's own time. */
    fun classify(rgb: ByteArray, width: Int, height: Int): Result {
        encoder.encode(rgb, width, height, input)
        output.rewind()
        val t0 = SystemClock.elapsedRealtimeNanos()
        interpreter.run(input, output)
        val ms = (SystemClock.elapsedRealtimeNanos() - t0) / 1e6
        val probabilities = decoder.probabilities(output)
        return Result(decoder.topK(probabilities, 3), ms)
    }

    override fun close() {
        interpreter.close()
        gpuDelegate?.close()
        gpuDelegate = null
    }
}
