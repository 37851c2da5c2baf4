package io.edgetl.demo

import android.content.Context
import io.edgetl.core.ContractException
import io.edgetl.core.Labels
import io.edgetl.core.ModelContract
import io.edgetl.core.TfliteMetadata
import io.edgetl.core.ZipAppendix
import java.io.File
import java.io.FileInputStream
import java.io.FileNotFoundException
import java.io.IOException
import java.io.RandomAccessFile
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel

/**
 * A model `edgetl export android` wrote into app/src/main/assets (NAME.tflite, its contract NAME.json or
 * the contract embedded in the model as `edgetl_contract.json`, optional labels.txt), loaded and
 * cross-checked. Labels and normalisation come from the model's own TFLite metadata when it carries them,
 * else from the contract; everything else (dtypes, scale/zero point, activation) from the contract.
 * Anything missing or inconsistent becomes an [AssetProblem].
 */
class ModelAssets private constructor(
    val name: String,
    val model: MappedByteBuffer,
    val contract: ModelContract,
    /** Where labels and normalisation came from, for the screen. */
    val source: String,
) {

    class AssetProblem(message: String) : Exception(message)

    companion object {
        const val LABELS = "labels.txt"
        const val FIX = "Run `edgetl export android RUN_DIR --out android_demo/app/src/main/assets` and rebuild the app."

        /** The contract edgetl embeds in the model's metadata zip (the same JSON as the sidecar). */
        const val EMBEDDED_CONTRACT = "edgetl_contract.json"

        /** Models in the assets: every NAME.tflite; model.tflite first. */
        fun available(context: Context): List<String> =
            assetNames(context).filter { it.endsWith(".tflite") }.sortedWith(compareBy({ it != "model.tflite" }, { it }))

        private fun assetNames(context: Context): Set<String> = try {
            context.assets.list("")?.toSet() ?: emptySet()
        } catch (e: IOException) {
            emptySet()
        }

        private fun contractName(model: String) = model.removeSuffix(".tflite") + ".json"

        fun load(context: Context, name: String): ModelAssets {
            val json = contractName(name)
            val present = assetNames(context)
            try {
                val model = map(context, name)
                val (text, where) = if (json in present) {
                    Pair(readText(context, json), json)
                } else {
                    val embedded = ZipAppendix.read(model, EMBEDDED_CONTRACT)
                        ?: throw AssetProblem("$name has no contract: neither $json beside it nor $EMBEDDED_CONTRACT inside it.\n$FIX")
                    Pair(embedded.toString(Charsets.UTF_8), "the model's $EMBEDDED_CONTRACT")
                }
                val fromJson = ModelContract.parse(text)
                if (LABELS in present) {
                    fromJson.checkLabels(Labels.parse(readText(context, LABELS)))
                }
                val metadata = TfliteMetadata.read(model)
                    ?: return ModelAssets(name, model, fromJson, "from $where")
                val contract = ModelContract(
                    metadata.labels ?: fromJson.labels, fromJson.height, fromJson.width, fromJson.channelOrder,
                    metadata.mean ?: fromJson.mean, metadata.std ?: fromJson.std, fromJson.input, fromJson.output,
                    fromJson.outputUnits, fromJson.activation, fromJson.artifact,
                    fromJson.positiveLabel, fromJson.threshold,  // the decision (binary models) is the contract's
                )
                val what = listOfNotNull(metadata.labels?.let { "labels" }, metadata.mean?.let { "mean/std" })
                val source = if (what.isEmpty()) "from $where" else "${what.joinToString("+")} from TFLite metadata"
                return ModelAssets(name, model, contract, source)
            } catch (e: ContractException) {
                throw AssetProblem("$name: ${e.message}\n$FIX")
            } catch (e: IOException) {
                throw AssetProblem("$name cannot be read (${e.message}).\n$FIX")
            }
        }

        private fun readText(context: Context, name: String): String =
            context.assets.open(name).use { it.readBytes().toString(Charsets.UTF_8) }

        /** The asset [name], memory-mapped from the APK (as LiteRT wants it). */
        fun map(context: Context, name: String): MappedByteBuffer = try {
            context.assets.openFd(name).use { fd ->
                FileInputStream(fd.fileDescriptor).use { stream ->
                    stream.channel.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
                }
            }
        } catch (e: FileNotFoundException) {
            // openFd fails on compressed assets: app/build.gradle.kts keeps *.tflite uncompressed
            throw AssetProblem("$name is compressed in the APK and cannot be memory-mapped (${e.message}).")
        }

        /** A .tflite outside the APK (the benchmark mode's pushed models), memory-mapped. */
        fun mapFile(file: File): MappedByteBuffer = try {
            RandomAccessFile(file, "r").use { it.channel.map(FileChannel.MapMode.READ_ONLY, 0, it.length()) }
        } catch (e: IOException) {
            throw AssetProblem("${file.path} cannot be read (${e.message}).")
        }
    }
}
