"""Training: `fit` (fit.py), the cached-feature head path (cached_head.py, feature_cache.py,
batch_norm_folding.py), `evaluate` (evaluate.py) and its figures (figures.py)."""
