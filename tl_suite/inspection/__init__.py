"""Inspection: look at data and predictions — `show_batch` (show_batch.py), `show_results`
(show_results.py), `top_losses` / `plot_top_losses` (top_losses.py), `most_confused`
(most_confused.py), built on one pass over a dataset (examples.py), one row per example
(rows.py) and three drawings (figures.py)."""
