"""Models: the one contract (`TransferModel` in task.py), one file per model kind, heads, layers,
metrics, predictions on raw inputs and loading."""
