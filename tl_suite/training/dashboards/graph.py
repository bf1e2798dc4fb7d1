"""The Graphs tab: the model's inference graph.

Keras 3's own ``TensorBoard(write_graph=True)`` writes nothing for tl_suite models (its docs
say "not supported at this time": it needs a ``function_spec`` that TensorFlow's functions no
longer have, and its layer graph is only for classes named ``Functional`` / ``Sequential``),
and on the cached-feature path it would see the head trainer, not the model. So the graph is
traced here from the whole model, once per run: about 0.2 s and 300 KB for EfficientNet-Lite0.
"""

import warnings

import tensorflow as tf

from tl_suite.training.dashboards.writers import summary_writer


def _input_specs(model):
    """`tf.TensorSpec`s of ``model``'s inputs (any batch size), in the structure it takes."""
    try:
        structure = model.input
    except AttributeError:  # a Sequential model before its first call knows only `inputs`
        structure = model.inputs
        structure = structure[0] if len(structure) == 1 else structure
    return tf.nest.map_structure(
        lambda tensor: tf.TensorSpec((None, *tensor.shape[1:]), tensor.dtype), structure)


def log_graph(directory, model):
    """Write ``model``'s inference graph (``training=False``) into the TensorBoard run
    ``directory``; a model without symbolic inputs (subclassed, not built) writes none.

    Example:
    >>> import keras, os, tempfile
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> folder = tempfile.mkdtemp()
    >>> log_graph(folder, model)
    >>> any(name.startswith("events") for name in os.listdir(folder))
    True
    """
    try:
        specs = _input_specs(model)
    except (AttributeError, TypeError, ValueError):  # a subclassed model has no symbolic inputs
        return
    try:
        graph = tf.function(lambda inputs: model(inputs, training=False)).get_concrete_function(specs).graph
    except (TypeError, ValueError, NotImplementedError, tf.errors.OpError) as error:
        # The run's weights and logs are written by now; a graph that will not trace must
        # not turn a finished run into an error.
        warnings.warn(f"The model's graph could not be traced for TensorBoard: {error}", stacklevel=3)
        return
    with summary_writer(directory):
        tf.summary.graph(graph)
