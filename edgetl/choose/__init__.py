"""`edgetl search`: the model to ship, chosen on the user's own photos within a latency and size budget.

``candidates`` (the grid, from the backbone registry), ``cv`` (cross-validated accuracy of the phase-1
head), ``front`` (Pareto front and the pick), ``latency`` (the edgetl-latency/1 file), ``run`` (the
search itself: ``edgetl.search(SearchConfig(...))``). Method: docs/search.md.
"""
