package io.edgetl.demo

import android.content.Context
import io.edgetl.core.ContractException
import io.edgetl.core.Labels
import io.edgetl.core.ModelContract
import java.io.FileInputStream
import java.io.FileNotFoundException
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel

/**
 * The three files `edgetl export android` writes into app/src/main/assets, loaded and cross-checked.
 * Anything missing or inconsistent becomes an [AssetProblem] with a message the screen shows.
 */
class ModelAssets private constructor(val model: MappedByteBuffer, val contract: ModelContract) {

    class AssetProblem(message: String) : Exception(message)

    companion object {
        const val MODEL = "model.tflite"
        const val LABELS = "labels.txt"
        const val CONTRACT = "model.json"
        private const val FIX = "Run `edgetl export android RUN_DIR --out android_demo/app/src/main/assets` and rebuild the app."

        fun load(context: Context): ModelAssets {
            val present = context.assets.list("")?.toSet() ?: emptySet()
            val missing = listOf(MODEL, LABELS, CONTRACT).filter { it !in present }
            if (missing.isNotEmpty()) {
                throw AssetProblem("Missing asset(s): ${missing.joinToString()}.\n$FIX")
            }
            val contract = try {
                ModelContract.parse(readText(context, CONTRACT)).also {
                    it.checkLabels(Labels.parse(readText(context, LABELS)))
                }
            } catch (e: ContractException) {
                throw AssetProblem("${e.message}\n$FIX")
            }
            return ModelAssets(mapModel(context), contract)
        }

        private fun readText(context: Context, name: String): String =
            context.assets.open(name).use { it.readBytes().toString(Charsets.UTF_8) }

        private fun mapModel(context: Context): MappedByteBuffer = try {
            context.assets.openFd(MODEL).use { fd ->
                FileInputStream(fd.fileDescriptor).use { stream ->
                    stream.channel.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
                }
            }
        } catch (e: FileNotFoundException) {
            // openFd fails on compressed assets: app/build.gradle.kts keeps *.tflite uncompressed
            throw AssetProblem("$MODEL is compressed in the APK and cannot be memory-mapped (${e.message}).")
        }
    }
}
