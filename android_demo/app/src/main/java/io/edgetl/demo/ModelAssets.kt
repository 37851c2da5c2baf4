package io.edgetl.demo

import android.content.Context
import io.edgetl.core.ContractException
import io.edgetl.core.Labels
import io.edgetl.core.ModelContract
import io.edgetl.core.TfliteMetadata
import java.io.FileInputStream
import java.io.FileNotFoundException
import java.io.IOException
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel

/**
 * A model `edgetl export android` wrote into app/src/main/assets (NAME.tflite + NAME.json, optional
 * labels.txt), loaded and cross-checked. Labels and normalisation come from the model's own TFLite
 * metadata when it carries them, else from the contract NAME.json; everything else (dtypes, scale/zero
 * point, activation) from the contract. Anything missing or inconsistent becomes an [AssetProblem].
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

        /** Models in the assets: every NAME.tflite with its contract NAME.json; model.tflite first. */
        fun available(context: Context): List<String> {
            val present = try {
                context.assets.list("")?.toSet() ?: emptySet()
            } catch (e: IOException) {
                emptySet()
            }
            return present.filter { it.endsWith(".tflite") && contractName(it) in present }
                .sortedWith(compareBy({ it != "model.tflite" }, { it }))
        }

        private fun contractName(model: String) = model.removeSuffix(".tflite") + ".json"

        fun load(context: Context, name: String): ModelAssets {
            val json = contractName(name)
            try {
                val fromJson = ModelContract.parse(readText(context, json))
                if (LABELS in (context.assets.list("") ?: emptyArray())) {
                    fromJson.checkLabels(Labels.parse(readText(context, LABELS)))
                }
                val model = mapModel(context, name)
                val metadata = TfliteMetadata.read(model)
                    ?: return ModelAssets(name, model, fromJson, "from $json")
                val contract = ModelContract(
                    metadata.labels ?: fromJson.labels, fromJson.height, fromJson.width, fromJson.channelOrder,
                    metadata.mean ?: fromJson.mean, metadata.std ?: fromJson.std, fromJson.input, fromJson.output,
                    fromJson.outputUnits, fromJson.activation, fromJson.artifact,
                )
                val what = listOfNotNull(metadata.labels?.let { "labels" }, metadata.mean?.let { "mean/std" })
                val source = if (what.isEmpty()) "from $json" else "${what.joinToString("+")} from TFLite metadata"
                return ModelAssets(name, model, contract, source)
            } catch (e: ContractException) {
                throw AssetProblem("$name: ${e.message}\n$FIX")
            } catch (e: IOException) {
                throw AssetProblem("$name cannot be read (${e.message}).\n$FIX")
            }
        }

        private fun readText(context: Context, name: String): String =
            context.assets.open(name).use { it.readBytes().toString(Charsets.UTF_8) }

        private fun mapModel(context: Context, name: String): MappedByteBuffer = try {
            context.assets.openFd(name).use { fd ->
                FileInputStream(fd.fileDescriptor).use { stream ->
                    stream.channel.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
                }
            }
        } catch (e: FileNotFoundException) {
            // openFd fails on compressed assets: app/build.gradle.kts keeps *.tflite uncompressed
            throw AssetProblem("$name is compressed in the APK and cannot be memory-mapped (${e.message}).")
        }
    }
}
