"""Loading saved tl_suite models."""

import keras

# Importing the model modules registers their classes with Keras' serialization, which is what
# `keras.saving.load_model` needs to rebuild them.
from tl_suite.models import image_model, text_model, token_model  # noqa: F401


def load_model(filepath, safe_mode=True, compile=True):
    """Load a model saved with ``model.save("model.keras")``: backbone, preprocessor, head,
    task, label names and layer groups come back, ready for `tl_suite.predict`.

    Equivalent to ``import tl_suite`` and then ``keras.saving.load_model(filepath)``: Keras can
    only rebuild tl_suite's classes once tl_suite is imported.

    Example:
    >>> import numpy as np, os, tempfile, tl_suite
    >>> model = tl_suite.build_image_classifier(
    ...     "tiny_efficientnet_lite", class_names=["a", "b"], weights=None)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.keras")
    >>> model.save(path)
    >>> tl_suite.load_model(path).class_names
    ['a', 'b']
    """
    return keras.saving.load_model(filepath, safe_mode=safe_mode, compile=compile)
