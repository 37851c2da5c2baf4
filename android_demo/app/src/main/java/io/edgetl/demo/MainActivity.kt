package io.edgetl.demo

import android.Manifest
import android.content.pm.PackageManager
import android.graphics.Bitmap
import android.hardware.display.DisplayManager
import android.net.Uri
import android.os.Bundle
import android.os.SystemClock
import android.view.Surface
import android.view.View
import android.widget.Button
import android.widget.ImageView
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
import androidx.core.view.ViewCompat
import androidx.core.view.WindowCompat
import androidx.core.view.WindowInsetsCompat
import io.edgetl.core.Recognition
import io.edgetl.core.RgbFrame
import java.util.Locale
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * Live camera classification (CameraX preview + ImageAnalysis RGBA frames -> [Classifier]) or one
 * photo from the gallery; top-K labels with scores, inference ms and FPS on screen. The settings
 * bottom sheet ([SettingsSheet]) picks the model, CPU/GPU/NNAPI, threads, top-K and the score threshold.
 */
class MainActivity : AppCompatActivity() {

    private lateinit var preview: PreviewView
    private lateinit var photo: ImageView
    private lateinit var results: TextView
    private lateinit var stats: TextView
    private lateinit var error: TextView
    private lateinit var modeButton: Button

    /** All model work happens on this one thread: classifiers are created, used and closed there. */
    private val analysis: ExecutorService = Executors.newSingleThreadExecutor()
    private val frame = RgbFrame()  // reused for every camera frame (analysis thread only)
    private var models: List<String> = emptyList()
    @Volatile private var assets: ModelAssets? = null  // set on the UI thread, read on [analysis]
    private var classifier: Classifier? = null
    @Volatile private var settings = Settings()
    @Volatile private var rebuild = true
    @Volatile private var galleryMode = false
    private var lastFrameNs = 0L
    private var fps = 0.0
    private var analysisUseCase: ImageAnalysis? = null
    private var previewUseCase: Preview? = null
    private var displayListener: DisplayManager.DisplayListener? = null

    private val askCamera = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (granted) startCamera() else showError(getString(R.string.no_camera_permission))
    }

    private val pickImage = registerForActivityResult(ActivityResultContracts.GetContent()) { uri: Uri? ->
        if (uri != null) classifyPhoto(uri)
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        // targetSdk 35 draws edge to edge on Android 15 anyway: do it on every version and pad for the bars.
        WindowCompat.setDecorFitsSystemWindows(window, false)
        setContentView(R.layout.activity_main)
        preview = view<PreviewView>(R.id.preview)
        photo = view<ImageView>(R.id.photo)
        results = view<TextView>(R.id.results)
        stats = view<TextView>(R.id.stats)
        error = view<TextView>(R.id.error)
        modeButton = view<Button>(R.id.mode)
        applyInsets(view(R.id.panel), view(R.id.top_bar))

        settings = Settings(threads = Runtime.getRuntime().availableProcessors().coerceIn(1, 4))
        view<Button>(R.id.settings).setOnClickListener { openSettings() }
        view<Button>(R.id.gallery).setOnClickListener { pickImage.launch("image/*") }
        modeButton.setOnClickListener { showCamera() }

        models = ModelAssets.available(this)
        if (models.isEmpty()) {
            showError(getString(R.string.no_model, ModelAssets.FIX))
            return
        }
        settings = settings.copy(model = models.first())
        loadModel(settings.model)
        if (ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) {
            startCamera()
        } else {
            askCamera.launch(Manifest.permission.CAMERA)
        }
    }

    /** The panel and the top bar keep clear of the status/navigation bars and display cutouts. */
    private fun applyInsets(panel: View, topBar: View) {
        val panelPad = panel.paddingBottom
        val topPad = topBar.paddingTop
        ViewCompat.setOnApplyWindowInsetsListener(panel.rootView) { _, insets ->
            val bars = insets.getInsets(WindowInsetsCompat.Type.systemBars() or WindowInsetsCompat.Type.displayCutout())
            panel.setPadding(panelPad + bars.left, panel.paddingTop, panelPad + bars.right, panelPad + bars.bottom)
            topBar.setPadding(topPad + bars.left, topPad + bars.top, topPad + bars.right, topBar.paddingBottom)
            insets
        }
    }

    /** Reads a model and its contract on the UI thread (small files, memory-mapped model). */
    private fun loadModel(name: String?): Boolean {
        if (name == null) return false
        val loaded = try {
            ModelAssets.load(this, name)
        } catch (e: ModelAssets.AssetProblem) {
            showError(e.message ?: "the model assets cannot be read")
            return false
        }
        assets = loaded
        rebuild = true
        hideError()
        val c = loaded.contract
        stats.text = String.format(Locale.US, "%s  %dx%d %s  %s", loaded.name, c.width, c.height, c.input.dtype, loaded.source)
        return true
    }

    private fun openSettings() {
        SettingsSheet(this, models, settings) { changed ->
            val old = settings
            settings = changed
            if (changed.model != old.model && !loadModel(changed.model)) return@SettingsSheet
            if (changed.accelerator != old.accelerator || changed.threads != old.threads) rebuild = true
        }.show()
    }

    private fun startCamera() {
        val providerFuture = ProcessCameraProvider.getInstance(this)
        providerFuture.addListener({
            try {
                bindCamera(providerFuture.get())
            } catch (e: Exception) {  // no camera service, camera in use, use-case combination refused, ...
                showError(getString(R.string.camera_failed, e.message ?: e.javaClass.simpleName))
            }
        }, ContextCompat.getMainExecutor(this))
    }

    private fun bindCamera(provider: ProcessCameraProvider) {
        val selector = when {
            provider.hasCamera(CameraSelector.DEFAULT_BACK_CAMERA) -> CameraSelector.DEFAULT_BACK_CAMERA
            provider.hasCamera(CameraSelector.DEFAULT_FRONT_CAMERA) -> CameraSelector.DEFAULT_FRONT_CAMERA
            else -> {
                showError(getString(R.string.no_camera))
                return
            }
        }
        val rotation = preview.display?.rotation ?: Surface.ROTATION_0
        val previewCase = Preview.Builder().setTargetRotation(rotation).build()
        previewCase.setSurfaceProvider(preview.surfaceProvider)
        val analysisCase = ImageAnalysis.Builder()
            .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
            .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
            .setTargetRotation(rotation)
            .build()
        analysisCase.setAnalyzer(analysis) { image -> analyze(image) }
        provider.unbindAll()
        provider.bindToLifecycle(this, selector, previewCase, analysisCase)
        previewUseCase = previewCase
        analysisUseCase = analysisCase
        watchRotation()
    }

    /** A 180° turn does not recreate the activity: keep the use cases' target rotation current. */
    private fun watchRotation() {
        if (displayListener != null) return
        val manager = getSystemService(DisplayManager::class.java) ?: return
        val listener = object : DisplayManager.DisplayListener {
            override fun onDisplayAdded(displayId: Int) {}
            override fun onDisplayRemoved(displayId: Int) {}
            override fun onDisplayChanged(displayId: Int) {
                val display = preview.display ?: return
                if (display.displayId != displayId) return
                analysisUseCase?.targetRotation = display.rotation
                previewUseCase?.targetRotation = display.rotation
            }
        }
        manager.registerDisplayListener(listener, null)
        displayListener = listener
    }

    /** Runs on [analysis]: the frame is copied into [frame] and released before inference. */
    private fun analyze(image: ImageProxy) {
        try {
            if (galleryMode) return
            val plane = image.planes[0]
            frame.setFromRgba(plane.buffer, image.width, image.height, plane.rowStride, plane.pixelStride,
                image.imageInfo.rotationDegrees)
        } catch (e: Exception) {
            reportFailure(e)
            return
        } finally {
            image.close()
        }
        val result = runModel(frame) ?: return
        val now = SystemClock.elapsedRealtimeNanos()
        if (lastFrameNs != 0L) {
            val instant = 1e9 / (now - lastFrameNs)
            fps = if (fps == 0.0) instant else 0.9 * fps + 0.1 * instant
        }
        lastFrameNs = now
        show(result, String.format(Locale.US, "%.1f FPS", fps))
    }

    /** On [analysis]: (re)builds the classifier when the settings changed, then classifies; never throws. */
    private fun runModel(rgb: RgbFrame): Pair<Classifier, Classifier.Result>? {
        val model = assets ?: return null
        val s = settings
        try {
            if (rebuild || classifier == null) {
                rebuild = false
                classifier?.close()
                classifier = null
                classifier = Classifier(model, s.accelerator, s.threads)
            }
            val clf = classifier ?: return null
            return Pair(clf, clf.classify(rgb.rgb(), rgb.width(), rgb.height(), s.topK, s.threshold))
        } catch (e: ModelAssets.AssetProblem) {
            runOnUiThread { showError(e.message ?: "the model does not match its contract") }
        } catch (e: Exception) {  // a failing frame must not take the app down
            reportFailure(e)
        }
        return null
    }

    private fun reportFailure(e: Exception) {
        val message = getString(R.string.classify_failed, e.message ?: e.javaClass.simpleName)
        runOnUiThread { showError(message) }
    }

    private fun show(result: Pair<Classifier, Classifier.Result>, rate: String) {
        val (clf, r) = result
        val lines = if (r.top.isEmpty()) getString(R.string.below_threshold)
            else r.top.mapIndexed { i, it -> line(it, if (i == 0) clf.decisionNote(it) else null) }.joinToString("\n")
        val info = String.format(Locale.US, "%.1f ms inference   %s   %s", r.inferenceMs, rate, clf.description)
        runOnUiThread {
            hideError()
            results.text = lines
            stats.text = info
        }
    }

    /** "PNEUMONIA  35.0%  (p >= 0.31)": the decision note for a binary model's decided class. */
    private fun line(r: Recognition, note: String?): String =
        String.format(Locale.US, "%-20s %5.1f%%", r.label, 100f * r.score) + (note?.let { "  ($it)" } ?: "")

    /** Gallery mode: decode (downsampled, EXIF-rotated) on the UI thread, classify on [analysis]. */
    private fun classifyPhoto(uri: Uri) {
        val bitmap: Bitmap = try {
            Photos.decode(contentResolver, uri, Photos.MAX_SIDE)
        } catch (e: Exception) {
            showError(getString(R.string.photo_failed, e.message ?: e.javaClass.simpleName))
            return
        }
        galleryMode = true
        photo.setImageBitmap(bitmap)
        photo.visibility = View.VISIBLE
        modeButton.visibility = View.VISIBLE
        val w = bitmap.width
        val h = bitmap.height
        val argb = IntArray(w * h)
        bitmap.getPixels(argb, 0, w, 0, 0, w, h)
        analysis.execute {
            val rgb = RgbFrame()
            rgb.setFromArgb(argb, w, h)
            val result = runModel(rgb)
            if (result != null) show(result, getString(R.string.photo_mode))
        }
    }

    private fun showCamera() {
        galleryMode = false
        photo.setImageDrawable(null)
        photo.visibility = View.GONE
        modeButton.visibility = View.GONE
    }

    private fun showError(message: String) {
        error.text = message
        error.visibility = View.VISIBLE
        results.text = ""
    }

    private fun hideError() {
        if (error.visibility != View.GONE) {
            error.visibility = View.GONE
            error.text = ""
        }
    }

    override fun onDestroy() {
        super.onDestroy()
        displayListener?.let { getSystemService(DisplayManager::class.java)?.unregisterDisplayListener(it) }
        analysis.execute {
            classifier?.close()
            classifier = null
        }
        analysis.shutdown()
    }
}
