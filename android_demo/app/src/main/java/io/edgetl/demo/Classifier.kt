package io.edgetl.demo

import android.os.SystemClock
import io.edgetl.core.ContractException
import io.edgetl.core.ImageResizer
import io.edgetl.core.InputEncoder
import io.edgetl.core.OutputDecoder
import io.edgetl.core.Recognition
import io.edgetl.core.TensorSpec
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.Tensor
import java.io.Closeable
import java.nio.ByteBuffer
import java.util.Locale

/**
 * LiteRT Interpreter + the plain-Java contract code (edgetl-core): RGB pixels in, top-k out.
 * Works unchanged for float and uint8/int8 models: the contract says how to fill and read the tensors,
 * and the interpreter's real tensors are checked against it when the classifier is created.
 *
 * The interpreter comes from [LiteRt.open]: a delegate (GPU, NNAPI) that cannot be created or refuses the
 * model leaves it on the CPU, and [description] says why.
 *
 * A binary model whose contract carries a decision (positive class, threshold) reports the positive
 * class iff its probability >= threshold, as `edgetl evaluate`/`predict` do; otherwise the top class.
 */
class Classifier(assets: ModelAssets, accelerator: Accelerator, threads: Int) : Closeable {

    enum class Accelerator { CPU, GPU, NNAPI }

    class Result(val top: List<Recognition>, val inferenceMs: Double)

    private val contract = assets.contract
    private val encoder = InputEncoder(contract)
    private val decoder = OutputDecoder(contract)
    private val input: ByteBuffer = encoder.allocate()
    private val output: ByteBuffer = decoder.allocate()
    /** The frame resized to the model's input, reused for every frame (no ~150 KB array per frame). */
    private val resized = ByteArray(contract.width * contract.height * 3)
    private val runtime: LiteRt
    private val interpreter: Interpreter

    /** What actually runs the model, e.g. "CPU, 4 thread(s)" or "CPU (GPU failed: ...)". */
    val description: String

    init {
        runtime = LiteRt.open(assets.model, accelerator, threads)
        interpreter = runtime.interpreter
        description = runtime.description
        try {
            checkModel()
        } catch (e: ContractException) {
            close()
            throw ModelAssets.AssetProblem("${e.message}\nExport the model and its contract together with `edgetl export android`.")
        }
    }

    /** One image input, one class output, batch size 1, and the tensors the contract describes. */
    private fun checkModel() {
        if (interpreter.inputTensorCount != 1 || interpreter.outputTensorCount != 1) {
            throw ContractException("the model has ${interpreter.inputTensorCount} inputs and ${interpreter.outputTensorCount} " +
                "outputs; this app runs image classifiers with one input and one output")
        }
        val inT = interpreter.getInputTensor(0)
        val outT = interpreter.getOutputTensor(0)
        val inShape = inT.shape()
        val outShape = outT.shape()
        if (inShape.isEmpty() || inShape[0] != 1 || outShape.isEmpty() || outShape[0] != 1) {
            throw ContractException("the model's batch dimension is not 1 (input ${inShape.contentToString()}, " +
                "output ${outShape.contentToString()}); export it for single images")
        }
        contract.checkTensors(inShape, spec(inT), outShape, spec(outT))
    }

    private fun spec(t: Tensor): TensorSpec {
        val dtype = LiteRt.dtypeName(t.dataType())
        val q = t.quantizationParams()
        return TensorSpec(dtype, q.scale, q.zeroPoint)
    }

    /**
     * Upright RGB bytes (the first `width * height * 3` of [rgb]) -> the reported class first (the contract's
     * decision, or the top class), then the next best, [k] in all, and the interpreter's own time. Classes
     * scoring below [minScore] are left out, except a decided class. Resize, input and output buffers are reused.
     */
    fun classify(rgb: ByteArray, width: Int, height: Int, k: Int, minScore: Float): Result {
        ImageResizer.resizeRgbInto(rgb, width, height, contract.width, contract.height, resized)
        encoder.encodeResized(resized, input)
        output.rewind()
        val t0 = SystemClock.elapsedRealtimeNanos()
        interpreter.run(input, output)
        val ms = (SystemClock.elapsedRealtimeNanos() - t0) / 1e6
        val probabilities = decoder.probabilities(output)
        val shown = decoder.classify(probabilities, k)
        val top = shown.filterIndexed { i, r -> (i == 0 && contract.hasDecision()) || r.score >= minScore }
        return Result(top, ms)
    }

    /**
     * How [r] was decided when the contract has a decision, for the screen: "p >= 0.31" for the positive
     * class, "p(PNEUMONIA) < 0.31" for the other; null for a model without one.
     */
    fun decisionNote(r: Recognition): String? {
        if (!contract.hasDecision()) return null
        val t = String.format(Locale.US, "%.4f", contract.threshold).trimEnd('0').trimEnd('.')
        return if (r.index == contract.positiveIndex()) "p >= $t" else "p(${contract.positiveLabel}) < $t"
    }

    override fun close() {
        runtime.close()
    }
}
