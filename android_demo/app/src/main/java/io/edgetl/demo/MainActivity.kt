package io.edgetl.demo

import android.Manifest
import android.content.pm.PackageManager
import android.os.Bundle
import android.os.SystemClock
import android.view.View
import android.widget.Button
import android.widget.TextView
import androidx.activity.result.contract.ActivityResultContracts
import androidx.appcompat.app.AppCompatActivity
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import androidx.camera.core.Preview
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import com.google.android.material.materialswitch.MaterialSwitch
import io.edgetl.core.Pixels
import java.util.Locale
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * Live camera classification: CameraX preview + ImageAnalysis (RGBA frames) -> [Classifier] ->
 * top-3 labels with scores, inference ms and FPS on screen; thread count and GPU switch at the bottom.
 */
class MainActivity : AppCompatActivity() {

    private lateinit var preview: PreviewView
    private lateinit var results: TextView
    private lateinit var stats: TextView
    private lateinit var error: TextView
    private lateinit var threadsText: TextView
    private lateinit var gpuSwitch: MaterialSwitch

    /** All model work happens on this one thread: the classifier is created, used and closed there. */
    private val analysis: ExecutorService = Executors.newSingleThreadExecutor()
    private var assets: ModelAssets? = null
    private var classifier: Classifier? = null
    @Volatile private var threads = 4
    @Volatile private var useGpu = false
    @Volatile private var rebuild = true
    private var lastFrameNs = 0L
    private var fps = 0.0

    private val askCamera = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (granted) startCamera() else showError(getString(R.string.no_camera_permission))
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        preview = findViewById(R.id.preview)
        results = findViewById(R.id.results)
        stats = findViewById(R.id.stats)
        error = findViewById(R.id.error)
        threadsText = findViewById(R.id.threads)
        gpuSwitch = findViewById(R.id.gpu)
        threads = Runtime.getRuntime().availableProcessors().coerceIn(1, 4)
        updateThreadsLabel()

        findViewById<Button>(R.id.threads_minus).setOnClickListener { setThreads(threads - 1) }
        findViewById<Button>(R.id.threads_plus).setOnClickListener { setThreads(threads + 1) }
        gpuSwitch.setOnCheckedChangeListener { _, checked ->
            useGpu = checked
            rebuild = true
        }

        try {
            assets = ModelAssets.load(this)
        } catch (e: ModelAssets.AssetProblem) {
            showError(e.message ?: "the model assets cannot be read")
            return
        }
        val c = assets!!.contract
        stats.text = String.format(Locale.US, "%s  %dx%d %s", c.artifact ?: "model", c.width, c.height, c.input.dtype)
        if (ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) {
            startCamera()
        } else {
            askCamera.launch(Manifest.permission.CAMERA)
        }
    }

    private fun setThreads(n: Int) {
        threads = n.coerceIn(1, 8)
        rebuild = true
        updateThreadsLabel()
    }

    private fun updateThreadsLabel() {
        threadsText.text = getString(R.string.threads_label, threads)
    }

    private fun startCamera() {
        val providerFuture = ProcessCameraProvider.getInstance(this)
        providerFuture.addListener({
            val provider = providerFuture.get()
            val previewUseCase = Preview.Builder().build().also { it.setSurfaceProvider(preview.surfaceProvider) }
            val analysisUseCase = ImageAnalysis.Builder()
                .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                .build()
            analysisUseCase.setAnalyzer(analysis) { image -> analyze(image) }
            provider.unbindAll()
            provider.bindToLifecycle(this, CameraSelector.DEFAULT_BACK_CAMERA, previewUseCase, analysisUseCase)
        }, ContextCompat.getMainExecutor(this))
    }

    /** Runs on [analysis]. */
    private fun analyze(image: ImageProxy) {
        image.use {
            val model = assets ?: return
            if (rebuild) {
                rebuild = false
                classifier?.close()
                classifier = null
                try {
                    classifier = Classifier(model, threads, useGpu)
                } catch (e: ModelAssets.AssetProblem) {
                    runOnUiThread { showError(e.message ?: "model.tflite does not match model.json") }
                    return
                } catch (e: Exception) {
                    runOnUiThread { showError("model.tflite cannot be loaded by LiteRT: ${e.message}") }
                    return
                }
            }
            val clf = classifier ?: return
            val plane = it.planes[0]
            var rgb = Pixels.rgbFromRgba(plane.buffer, it.width, it.height, plane.rowStride)
            var w = it.width
            var h = it.height
            val rotation = it.imageInfo.rotationDegrees
            if (rotation != 0) {
                rgb = Pixels.rotateRgb(rgb, w, h, rotation)
                if (rotation == 90 || rotation == 270) {
                    w = it.height
                    h = it.width
                }
            }
            val result = clf.classify(rgb, w, h)
            val now = SystemClock.elapsedRealtimeNanos()
            if (lastFrameNs != 0L) {
                val instant = 1e9 / (now - lastFrameNs)
                fps = if (fps == 0.0) instant else 0.9 * fps + 0.1 * instant
            }
            lastFrameNs = now
            val lines = result.top.joinToString("\n") { r -> String.format(Locale.US, "%-20s %5.1f%%", r.label, 100f * r.score) }
            val info = String.format(Locale.US, "%.1f ms inference   %.1f FPS   %s", result.inferenceMs, fps, clf.accelerator)
            runOnUiThread {
                results.text = lines
                stats.text = info
            }
        }
    }

    private fun showError(message: String) {
        error.text = message
        error.visibility = View.VISIBLE
        results.text = ""
    }

    override fun onDestroy() {
        super.onDestroy()
        analysis.execute {
            classifier?.close()
            classifier = null
        }
        analysis.shutdown()
    }
}
