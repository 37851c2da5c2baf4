package io.edgetl.demo

import android.content.Context
import android.view.LayoutInflater
import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.RadioGroup
import android.widget.SeekBar
import android.widget.Spinner
import android.widget.TextView
import com.google.android.material.bottomsheet.BottomSheetDialog

/**
 * The bottom sheet of settings LiteRT sample users expect: model (any exported artifact in the assets),
 * CPU/GPU/NNAPI, CPU threads, top-K and the score threshold. Every change is applied at once via [onChange].
 */
class SettingsSheet(
    context: Context,
    private val models: List<String>,
    initial: Settings,
    private val onChange: (Settings) -> Unit,
) {
    private val dialog = BottomSheetDialog(context)
    private var current = initial

    init {
        val root = LayoutInflater.from(context).inflate(R.layout.settings_sheet, null)
        dialog.setContentView(root)
        bindModel(context, root.view<Spinner>(R.id.model))
        bindAccelerator(root.view<RadioGroup>(R.id.accelerator))
        val threadsText = root.view<TextView>(R.id.threads_value)
        val topKText = root.view<TextView>(R.id.top_k_value)
        val thresholdText = root.view<TextView>(R.id.threshold_value)
        fun refresh() {
            threadsText.text = context.getString(R.string.threads_label, current.threads)
            topKText.text = context.getString(R.string.top_k_label, current.topK)
            thresholdText.text = context.getString(R.string.threshold_label, (current.threshold * 100f).toInt())
        }
        fun step(minus: Int, plus: Int, change: (Int) -> Settings) {
            root.view<Button>(minus).setOnClickListener { update(change(-1)); refresh() }
            root.view<Button>(plus).setOnClickListener { update(change(+1)); refresh() }
        }
        step(R.id.threads_minus, R.id.threads_plus) { d -> current.copy(threads = (current.threads + d).coerceIn(1, Settings.MAX_THREADS)) }
        step(R.id.top_k_minus, R.id.top_k_plus) { d -> current.copy(topK = (current.topK + d).coerceIn(1, Settings.MAX_TOP_K)) }
        val seek = root.view<SeekBar>(R.id.threshold)
        seek.max = 100
        seek.progress = (current.threshold * 100f).toInt()
        seek.setOnSeekBarChangeListener(object : SeekBar.OnSeekBarChangeListener {
            override fun onProgressChanged(bar: SeekBar, progress: Int, fromUser: Boolean) {
                if (fromUser) {
                    update(current.copy(threshold = progress / 100f))
                    refresh()
                }
            }
            override fun onStartTrackingTouch(bar: SeekBar) {}
            override fun onStopTrackingTouch(bar: SeekBar) {}
        })
        refresh()
    }

    private fun bindModel(context: Context, spinner: Spinner) {
        val adapter = ArrayAdapter(context, android.R.layout.simple_spinner_item, models)
        adapter.setDropDownViewResource(android.R.layout.simple_spinner_dropdown_item)
        spinner.adapter = adapter
        spinner.setSelection(models.indexOf(current.model).coerceAtLeast(0))
        spinner.onItemSelectedListener = object : AdapterView.OnItemSelectedListener {
            override fun onItemSelected(parent: AdapterView<*>?, view: View?, position: Int, id: Long) {
                val name = models[position]
                if (name != current.model) update(current.copy(model = name))
            }
            override fun onNothingSelected(parent: AdapterView<*>?) {}
        }
    }

    private fun bindAccelerator(group: RadioGroup) {
        group.check(
            when (current.accelerator) {
                Classifier.Accelerator.CPU -> R.id.accelerator_cpu
                Classifier.Accelerator.GPU -> R.id.accelerator_gpu
                Classifier.Accelerator.NNAPI -> R.id.accelerator_nnapi
            }
        )
        group.setOnCheckedChangeListener { _, checked ->
            val chosen = when (checked) {
                R.id.accelerator_gpu -> Classifier.Accelerator.GPU
                R.id.accelerator_nnapi -> Classifier.Accelerator.NNAPI
                else -> Classifier.Accelerator.CPU
            }
            update(current.copy(accelerator = chosen))
        }
    }

    private fun update(changed: Settings) {
        current = changed
        onChange(changed)
    }

    fun show() = dialog.show()
}
