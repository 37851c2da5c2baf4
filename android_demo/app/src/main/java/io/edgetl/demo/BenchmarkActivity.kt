package io.edgetl.demo

import android.app.Activity
import android.os.Build
import android.os.Bundle
import android.util.Log
import android.view.WindowManager
import android.widget.ScrollView
import android.widget.TextView
import io.edgetl.core.LatencyBench
import io.edgetl.core.LatencyReport
import java.io.File
import java.io.IOException
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.Locale

/**
 * Benchmark mode: times every .tflite the app has and writes the latencies in edgetl's `edgetl-latency/1`
 * format, the file `edgetl search --latency-from` reads (docs/search.md, "Latency measured on a phone").
 *
 *     adb shell am start -n io.edgetl.demo/.BenchmarkActivity --ei warmup 10 --ei runs 50 --ei threads 1 --es delegate cpu
 *
 * Models: the app's assets (ModelAssets.available) plus any `.tflite` in a `models/` folder of the app's
 * external files dir (`adb push`) or of its internal files dir (`adb shell run-as`), so no rebuild is needed. Each is opened the way the classifier opens it ([LiteRt.open]),
 * fed a fixed input of its own input shape and type, run `warmup` times untimed and `runs` times timed with
 * System.nanoTime ([LatencyBench], the plain-Java core JUnit tests). Output: `latency.json` (or `--es out NAME`)
 * in getExternalFilesDir(null), one logcat line per model (tag `edgetl-bench`) and the path at the end.
 * A model the requested delegate refused (it fell back to the CPU) is listed under "failed", not timed:
 * the file's figures are all from the device line's accelerator.
 */
class BenchmarkActivity : Activity() {

    private lateinit var status: TextView
    private val lines = StringBuilder()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        window.addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)  // no sleep or dimming mid-run
        status = TextView(this)
        val pad = (24 * resources.displayMetrics.density).toInt()
        status.setPadding(pad, 2 * pad, pad, pad)
        status.setTextIsSelectable(true)
        val scroll = ScrollView(this)
        scroll.addView(status)
        setContentView(scroll)

        val warmup = intent.getIntExtra("warmup", DEFAULT_WARMUP)
        val runs = intent.getIntExtra("runs", DEFAULT_RUNS)
        val threads = intent.getIntExtra("threads", DEFAULT_THREADS)
        val delegate = intent.getStringExtra("delegate") ?: "cpu"
        val outName = intent.getStringExtra("out") ?: DEFAULT_OUT
        val accelerator = Classifier.Accelerator.values().firstOrNull { it.name.equals(delegate.trim(), ignoreCase = true) }
        val problem = LatencyBench.checkCounts(warmup, runs)
            ?: (if (threads < 1) "threads must be 1 or more, got $threads" else null)
            ?: (if (accelerator == null) "delegate must be cpu, gpu or nnapi, got '$delegate'" else null)
            ?: (if (outName.contains('/') || !outName.endsWith(".json")) "out must be a file name ending in .json, got '$outName'" else null)
        if (problem != null) {
            say("error: $problem (nothing written)")
            return
        }
        say("edgetl benchmark: warm-up $warmup, $runs runs, $threads thread(s), ${accelerator!!.name}")
        // Off the UI thread: a slow model must not make the system kill the activity (ANR).
        Thread({ runAll(warmup, runs, threads, accelerator, outName) }, "edgetl-bench").start()
    }

    private fun runAll(warmup: Int, runs: Int, threads: Int, accelerator: Classifier.Accelerator, outName: String) {
        val dir = getExternalFilesDir(null)
        if (dir == null) {
            say("error: no external files dir (storage not mounted); nothing written")
            return
        }
        val folders = listOf(File(dir, PUSHED_MODELS), File(filesDir, PUSHED_MODELS))
        folders.forEach { it.mkdirs() }  // so that the first start makes the folders `adb push` / `run-as` fill
        val pushed = folders.flatMap { folder ->
            folder.listFiles { f -> f.isFile && f.name.endsWith(".tflite") }?.sortedBy { it.name }.orEmpty()
        }
        val inAssets = ModelAssets.available(this)
        if (inAssets.isEmpty() && pushed.isEmpty()) {
            say("error: no .tflite in the app's assets or in ${folders.joinToString(" or ")}; " +
                "export or push models first (nothing written)")
            return
        }
        val abi = Build.SUPPORTED_ABIS.firstOrNull() ?: ""
        val soc = socModel()
        val device = LatencyReport.describeDevice(Build.MANUFACTURER, Build.MODEL, soc, abi, Build.VERSION.RELEASE,
            Build.VERSION.SDK_INT, accelerator.name, threads)
        val info = linkedMapOf<String, Any>(
            "manufacturer" to Build.MANUFACTURER, "model" to Build.MODEL, "device" to Build.DEVICE,
            "hardware" to Build.HARDWARE, "soc" to (soc ?: "unknown (Build.SOC_MODEL needs Android 12)"),
            "abis" to Build.SUPPORTED_ABIS.joinToString(","), "android" to Build.VERSION.RELEASE,
            "sdk" to Build.VERSION.SDK_INT, "cores" to Runtime.getRuntime().availableProcessors(),
        )
        val settings = linkedMapOf<String, Any>(
            "warmup" to warmup, "runs" to runs, "threads" to threads, "delegate" to accelerator.name.lowercase(),
            "clock" to "System.nanoTime around Interpreter.run", "input" to "fixed (LatencyBench.fixedInput)",
            "tool" to "edgetl Android demo BenchmarkActivity",
        )
        val report = LatencyReport(device, info, settings)
        val bench = LatencyBench(warmup, runs, LatencyBench.SYSTEM_CLOCK)
        say(device)
        val models: List<Pair<String, () -> ByteBuffer>> =
            inAssets.map { asset -> asset to { ModelAssets.map(this, asset) } } +
                pushed.map { f -> f.path to { ModelAssets.mapFile(f) } }
        for ((name, load) in models) {
            val file = name.substringAfterLast('/')
            try {
                val model = load()
                val sha = LatencyReport.sha256(model)
                LiteRt.open(model, accelerator, threads).use { rt ->
                    if (rt.fallback != null) {
                        report.addFailure(file, "${rt.fallback}; not timed (it would run on the CPU)")
                        say("$name: not timed: ${rt.fallback}")
                        return@use
                    }
                    val samples = bench.measure(inferenceOf(rt))
                    report.addModel(file, sha, samples)
                    say(String.format(Locale.US, "%s: p50 %.3f ms, p90 %.3f ms, min %.3f ms (%d runs) %s", name,
                        samples.p50Ms(), samples.p90Ms(), samples.minMs(), samples.runs(), sha.take(12)))
                }
            } catch (t: Throwable) {  // a model LiteRT refuses (IllegalArgumentException) or a missing native lib
                report.addFailure(file, LiteRt.firstLine(t))
                say("$name: failed: ${LiteRt.firstLine(t)}")
            }
        }
        if (report.measured() == 0) {
            say("error: no model could be timed (${report.failures()} failed); nothing written")
            return
        }
        val out = File(dir, outName)
        val tmp = File(dir, "$outName.tmp")
        try {
            tmp.writeText(report.toJson(), Charsets.UTF_8)
            if (!tmp.renameTo(out)) throw IOException("cannot rename $tmp to $out")
        } catch (e: IOException) {
            tmp.delete()
            say("error: cannot write $out (${e.message})")
            return
        }
        say("wrote ${out.absolutePath} (${report.measured()} model(s) timed, ${report.failures()} failed)")
    }

    /** One inference on fixed inputs of the model's own shapes and types; buffers allocated once. */
    private fun inferenceOf(rt: LiteRt): LatencyBench.Inference {
        val interpreter = rt.interpreter
        val inputs = Array<ByteBuffer>(interpreter.inputTensorCount) { i ->
            val t = interpreter.getInputTensor(i)
            LatencyBench.fixedInput(LiteRt.dtypeName(t.dataType()), t.numBytes())
        }
        val outputs = Array<ByteBuffer>(interpreter.outputTensorCount) { i ->
            ByteBuffer.allocateDirect(interpreter.getOutputTensor(i).numBytes()).order(ByteOrder.nativeOrder())
        }
        if (inputs.size == 1 && outputs.size == 1) {
            return LatencyBench.Inference {
                inputs[0].rewind()
                outputs[0].rewind()
                interpreter.run(inputs[0], outputs[0])
            }
        }
        val inputArray = Array<Any>(inputs.size) { i -> inputs[i] }
        val outputMap = HashMap<Int, Any>()
        outputs.forEachIndexed { i, b -> outputMap[i] = b }
        return LatencyBench.Inference {
            for (b in inputs) b.rewind()
            for (b in outputs) b.rewind()
            interpreter.runForMultipleInputsOutputs(inputArray, outputMap)
        }
    }

    /** Build.SOC_MODEL (API 31+), read by reflection: the app compiles against older API levels too. */
    private fun socModel(): String? = if (Build.VERSION.SDK_INT >= 31) {
        try {
            Build::class.java.getField("SOC_MODEL").get(null) as? String
        } catch (e: ReflectiveOperationException) {
            null
        }
    } else {
        null
    }

    private fun say(line: String) {
        if (line.startsWith("error:")) Log.e(TAG, line) else Log.i(TAG, line)
        runOnUiThread {
            lines.append(line).append('\n')
            status.text = lines
        }
    }

    companion object {
        const val TAG = "edgetl-bench"
        const val DEFAULT_WARMUP = 10
        const val DEFAULT_RUNS = 50
        const val DEFAULT_THREADS = 1
        const val DEFAULT_OUT = "latency.json"
        /** Folder (in getExternalFilesDir(null) and in filesDir) whose .tflite files are timed too. */
        const val PUSHED_MODELS = "models"
    }
}
