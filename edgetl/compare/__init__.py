"""`edgetl compare`: the classic comparison table, measured. A pipeline of its own: it trains (``stages.train``),
converts (the stages' own converters) and benchmarks (``measure.bench``), so it sits above the stages and measure."""
