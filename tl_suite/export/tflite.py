"""LiteRT / TFLite files of tl_suite models: `export_tflite`, `load_tflite`, `run_tflite`,
`tflite_inputs` and `check_tflite` (the file against the Keras model on held-out data).

What a file takes (signature ``serving_default``; every input has the batch as first axis):

=======================================  =================================================
model, ``text_inputs``                   inputs
=======================================  =================================================
image model                              ``images``: uint8 RGB ``(N, H, W, 3)``, raw pixels
                                         in [0, 255] at ``input_size`` (default the model's,
                                         e.g. 224 x 224; ``"any"``: any size). The model's
                                         resize (bilinear, center crop to the aspect ratio)
                                         and scaling are inside: a client only decodes.
text model, ``"token_ids"`` (default)    ``token_ids``, ``padding_mask``, ``segment_ids``:
                                         int32 ``(N, sequence_length)`` from the model's
                                         tokenizer (`tflite_inputs` makes them), and with a
                                         TF-IDF wide branch ``tf_idf``: float32
                                         ``(N, wide_tokens)`` (``model.preprocessor`` too).
text model, ``"strings"``                ``texts``: strings ``(N,)``; tokenization inside
                                         (tensorflow_text's FastBertTokenizer, TFLite custom
                                         ops: run with `load_tflite`, or register
                                         ``tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS``).
                                         Single texts, no wide branch (``wide_tokens=None``).
=======================================  =================================================

It returns ``probabilities`` (classification: softmax; multi-label: sigmoid; with the model's
calibration temperature) or ``values`` (regression), ``(N, outputs)``.

``quantization``: ``None`` (float32), ``"float16"`` (float16 weights, float32 compute),
``"dynamic_int8"`` (int8 weights, dynamic-range int8 compute) or ``"int8"`` (full integer:
int8 weights and activations calibrated on ``representative_data``, about 200 training
examples; the image input stays uint8 pixels and the output is uint8: ``q * scale``, with the
output's quantization parameters, is the probability; `run_tflite` dequantizes).
"""

import os
import tempfile
import warnings

import keras
import numpy as np
import tensorflow as tf

from tl_suite.export.saved_model import model_kind
from tl_suite.models.task import TransferModel
from tl_suite.preprocessing.image import as_image_batch, to_uint8_rgb
from tl_suite.preprocessing.text import is_text_pair_spec
from tl_suite.preprocessing.windows import WindowedTextPreprocessor
from tl_suite.training.safe_files import write_atomically
from tl_suite.validation import check_choice, check_integer

QUANTIZATIONS = (None, "float16", "dynamic_int8", "int8")
TEXT_INPUTS = ("token_ids", "strings")
SIGNATURE = "serving_default"
TOKEN_INPUTS = ("token_ids", "padding_mask", "segment_ids")


def _check_model(model, text_inputs):
    if not isinstance(model, TransferModel):
        raise ValueError("`export_tflite` needs a model from a tl_suite builder (or "
                         f"tl_suite.load_model). Received: model={type(model).__name__}.")
    kind = model_kind(model)
    if kind == "tokens":
        raise ValueError(
            "TFLite export of token classifiers (NER) is not supported: their tags are decoded "
            "per word (Viterbi), which lives in the SavedModel. Use format='saved_model'. "
            "Received: a token_classification model.")
    if isinstance(model.preprocessor, WindowedTextPreprocessor):
        raise ValueError(
            "A text model with max_windows > 1 picks the windows present in each batch (a "
            "data-dependent shape); TFLite export takes models built with max_windows=1, or use "
            f"format='saved_model'. Received: max_windows={model.max_windows}.")
    if kind == "text" and text_inputs == "strings":
        _check_strings_model(model)
    return kind


def _check_strings_model(model):
    if model.wide_tokens:
        raise ValueError(
            "text_inputs='strings' cannot hold the TF-IDF wide branch: it splits texts into word "
            "pairs with TensorFlow's StringNGrams op, which is neither a TFLite builtin, a Select "
            "TF op nor a tensorflow_text TFLite op. Build the model with wide_tokens=None, or use "
            "text_inputs='token_ids' (the client computes the inputs with model.preprocessor). "
            f"Received: wide_tokens={model.wide_tokens}, text_inputs='strings'.")
    tokenizer = model.preprocessor.tokenizer
    settings = {name: getattr(tokenizer, name, None) for name in
                ("lowercase", "strip_accents", "split", "split_on_cjk", "special_tokens_in_strings")}
    if (settings["lowercase"] != settings["strip_accents"] or not settings["split"]
            or not settings["split_on_cjk"] or settings["special_tokens_in_strings"]):
        raise ValueError(
            "text_inputs='strings' tokenizes with tensorflow_text's FastBertTokenizer, which "
            "lowercases and strips accents together (or neither) and splits on whitespace, "
            "punctuation and CJK characters, like a BERT WordPiece tokenizer. This tokenizer is "
            f"set otherwise; use text_inputs='token_ids'. Received: tokenizer {settings}.")


def _check_arguments(model, quantization, representative_data, input_size, text_inputs,
                     calibration_examples):
    check_choice("quantization", quantization, QUANTIZATIONS)
    check_choice("text_inputs", text_inputs, TEXT_INPUTS)
    check_integer("calibration_examples", calibration_examples, 1)
    kind = _check_model(model, text_inputs)
    if quantization == "int8" and representative_data is None:
        raise ValueError(
            "quantization='int8' (full integer) calibrates activation ranges on examples: pass "
            "representative_data=train (a tl_suite dataset of (inputs, labels) batches, or raw "
            "images / texts); ~200 examples are used. Or use quantization='dynamic_int8', which "
            "needs none. Received: representative_data=None.")
    if quantization == "int8" and text_inputs == "strings" and kind == "text":
        raise ValueError(
            "quantization='int8' calibrates by running the converted model, which cannot run the "
            "tensorflow_text tokenizer ops there. Use text_inputs='token_ids' with int8, or "
            "quantization='dynamic_int8'. Received: quantization='int8', text_inputs='strings'.")
    if input_size is not None and kind == "image":
        ok = input_size == "any" or (isinstance(input_size, (tuple, list)) and len(input_size) == 2
                                      and all(isinstance(s, int) and s > 0 for s in input_size))
        if not ok:
            raise ValueError("`input_size` must be (height, width), 'any' or None (the model's "
                             f"input size). Received: input_size={input_size!r}.")
    return kind


def _outputs_function(model):
    """``outputs(x)``: the model's outputs from its (preprocessed) inputs ``x``, the
    temperature applied to the logits: ``softmax(z / T)`` equals the head's
    ``softmax(log(softmax(z)) / T)``, without a LOG whose int8 version loses the small
    probabilities."""
    features_model, head = model.features_model(), model.head
    dense = head.get_layer("predictions")  # named by `tl_suite.models.heads.build_head`
    hidden_model = keras.Model(head.input, dense.input)
    temperature = model.temperature  # read here: a variable has no value while tracing
    name = "values" if model.task == "regression" else "probabilities"

    def outputs(x):
        hidden = hidden_model(features_model(x, training=False), training=False)
        logits = keras.ops.matmul(hidden, dense.kernel) + dense.bias
        if temperature not in (None, 1.0):
            logits = logits / temperature
        return {name: dense.activation(logits)}

    return outputs


def _image_function(model, input_size):
    if input_size is None:
        input_size = model.preprocessor.target_size
    shape = [None, None, None, 3] if input_size == "any" else [None, *input_size, 3]
    outputs = _outputs_function(model)

    def serve(images):
        return outputs(model.preprocessor(images))

    return serve, [tf.TensorSpec(shape, tf.uint8, name="images")]


def _token_function(model):
    length = model.preprocessor.sequence_length
    specs = [tf.TensorSpec([None, length], tf.int32, name=name) for name in TOKEN_INPUTS]
    if model.wide_tokens:
        specs.append(tf.TensorSpec([None, model.wide_tokens], tf.float32, name="tf_idf"))
    dtypes = {name: tensor.dtype for name, tensor in model.input.items()}
    outputs = _outputs_function(model)

    def serve(token_ids, padding_mask, segment_ids, tf_idf=None):
        x = {"token_ids": token_ids, "padding_mask": padding_mask, "segment_ids": segment_ids}
        if tf_idf is not None:
            x["tf_idf"] = tf_idf
        return outputs({name: tf.cast(value, dtypes[name]) for name, value in x.items()})

    return serve, specs


def _strings_function(model):
    """Raw texts -> outputs, packed as ``[CLS] pieces [SEP]`` padded to ``sequence_length``
    with ops TFLite runs (FastBertTokenizer's are tensorflow_text TFLite custom ops; keras-hub's
    tokenizer needs Select TF ops that the Python interpreter here cannot run)."""
    import tensorflow_text  # only text models exported with text_inputs="strings" need it

    tokenizer, length = model.preprocessor.tokenizer, model.preprocessor.sequence_length
    fast = tensorflow_text.FastBertTokenizer(
        tokenizer.get_vocabulary(), suffix_indicator="##", token_out_type=tf.int32,
        unknown_token=tokenizer.oov_token, support_detokenization=False,
        lower_case_nfd_strip_accents=bool(tokenizer.lowercase))
    outputs = _outputs_function(model)
    ids = {name: tokenizer.token_to_id(token) for name, token in
           (("cls", tokenizer.cls_token), ("sep", tokenizer.sep_token), ("pad", tokenizer.pad_token))}

    def serve(texts):
        pieces = fast.tokenize(texts)
        count = tf.minimum(tf.cast(pieces.row_lengths(), tf.int32), length - 2)[:, tf.newaxis]
        body = pieces.to_tensor(default_value=ids["pad"], shape=[None, length - 2])
        rows = tf.shape(texts)[0]
        token_ids = tf.concat([tf.fill([rows, 1], ids["cls"]), body, tf.fill([rows, 1], ids["pad"])],
                              axis=1)
        position = tf.range(length)[tf.newaxis, :]
        token_ids = tf.where(position == count + 1, ids["sep"], token_ids)
        x = {"token_ids": token_ids, "padding_mask": tf.cast(position < count + 2, tf.int32),
             "segment_ids": tf.zeros_like(token_ids)}
        return outputs(x)

    return serve, [tf.TensorSpec([None], tf.string, name="texts")]


def _serving_function(model, kind, input_size, text_inputs):
    if kind == "image":
        return _image_function(model, input_size)
    return _strings_function(model) if text_inputs == "strings" else _token_function(model)


def _raw_batches(data):
    """Raw input batches of ``data``: a `tf.data.Dataset` of ``(inputs, labels)`` or of inputs
    (text pairs included), or one array / list of raw inputs."""
    if not isinstance(data, tf.data.Dataset):
        yield data
        return
    labelled = isinstance(data.element_spec, tuple) and not is_text_pair_spec(data.element_spec)
    for batch in data:
        yield batch[0] if labelled else batch


def _representative_dataset(model, data, specs, count):
    """The converter's calibration examples: up to ``count`` of ``data``, one at a time, as
    the file takes them."""
    def generate():
        given = 0
        for batch in _raw_batches(data):
            feed = tflite_inputs(model, batch, specs)
            for index in range(len(next(iter(feed.values())))):
                yield {name: value[index:index + 1] for name, value in feed.items()}
                given += 1
                if given >= count:
                    return

    return generate


def _configure(converter, kind, quantization, text_inputs, representative):
    if kind == "text" and text_inputs == "strings":
        converter.allow_custom_ops = True  # tensorflow_text's TFLite tokenizer ops
    if quantization is None:
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_output_type = tf.uint8


def _converter_error(error, kind, quantization, text_inputs):
    """A readable error from the converter's (long) message: its error lines and a fix."""
    lines = [line.strip() for line in str(error).splitlines()
             if "error:" in line or "ops:" in line.lower() or line.startswith("\ttf.")]
    summary = " | ".join(line[:300] for line in lines[:6]) or str(error)[-600:]
    fix = ("try quantization='dynamic_int8' or None" if quantization else
           "use format='saved_model' (it runs every TensorFlow op)")
    where = f", text_inputs={text_inputs!r}" if kind == "text" else ""
    return RuntimeError(f"The TFLite converter could not convert this {kind} model "
                        f"(quantization={quantization!r}{where}): {summary}. Fix: {fix}.")


def _convert(model, function, specs, kind, quantization, text_inputs, representative):
    with tempfile.TemporaryDirectory() as folder:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(SIGNATURE, function, input_signature=specs)
        archive.write_out(folder, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        _configure(converter, kind, quantization, text_inputs, representative)
        try:
            with warnings.catch_warnings():  # int8 calibration runs tf.lite.Interpreter
                warnings.simplefilter("ignore", UserWarning)
                return converter.convert()
        except Exception as error:  # noqa: BLE001 - the converter raises several kinds
            raise _converter_error(error, kind, quantization, text_inputs) from None


def export_tflite(model, path, quantization=None, representative_data=None, input_size=None,
                  text_inputs="token_ids", calibration_examples=200):
    """Write ``model`` as a LiteRT / TFLite file (see the module docstring for its inputs).

    Args:
        model: An image model or a text classifier / regressor (``max_windows=1``) from a
            tl_suite builder (token classifiers: use `export_saved_model`).
        path: The ``.tflite`` file to write (folders are made).
        quantization: ``None`` (float32), ``"float16"``, ``"dynamic_int8"`` or ``"int8"``
            (full integer; needs ``representative_data``).
        representative_data: For ``"int8"``: training data, a tl_suite dataset of
            ``(inputs, labels)`` batches (or raw images / texts); the first
            ``calibration_examples`` are used (the dataset's own shuffling picks them).
        input_size: Image models: the ``(height, width)`` of the ``images`` input (resized
            inside to the model's size); None: the model's input size; ``"any"``: any size
            (slower: TFLite's XNNPACK acceleration takes fixed shapes only).
        text_inputs: Text models: ``"token_ids"`` (tokenized outside) or ``"strings"``
            (tokenized inside; no wide branch).
        calibration_examples: How many examples of ``representative_data`` calibrate int8.

    Returns:
        ``path`` (a string).

    Example:
    >>> import os, tempfile, numpy as np, tl_suite
    >>> from tl_suite.export.tflite import export_tflite, load_tflite, run_tflite
    >>> model = tl_suite.build_image_classifier(
    ...     "tiny_efficientnet_lite", class_names=["cat", "dog"], weights=None)
    >>> path = export_tflite(model, os.path.join(tempfile.mkdtemp(), "pets.tflite"))
    >>> images = np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3)).astype("uint8")
    >>> probabilities = run_tflite(load_tflite(path), {"images": images})
    >>> bool(np.allclose(probabilities, model.predict(images, verbose=0), atol=1e-5))
    True
    """
    kind = _check_arguments(model, quantization, representative_data, input_size, text_inputs,
                            calibration_examples)
    function, specs = _serving_function(model, kind, input_size, text_inputs)
    representative = None
    if quantization == "int8":
        shapes = {spec.name: (spec.shape.as_list(), spec.dtype) for spec in specs}
        representative = _representative_dataset(model, representative_data, shapes,
                                                 calibration_examples)
    content = _convert(model, function, specs, kind, quantization, text_inputs, representative)
    path = str(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_atomically(path, lambda temporary: open(temporary, "wb").write(content))
    return path


def load_tflite(path, num_threads=None):
    """A runner of the TFLite file at ``path``: ``runner(**inputs)`` -> ``{output: array}``
    (a `tf.lite` signature runner; `run_tflite` feeds it and dequantizes).

    Args:
        path: A file written by `export_tflite`.
        num_threads: CPU threads of the interpreter; None: all cores.
    """
    with open(path, "rb") as file:
        content = file.read()
    num_threads = num_threads or os.cpu_count()
    with warnings.catch_warnings():
        # tf.lite.Interpreter announces its move to the ai_edge_litert package, not a
        # dependency here; it still runs every file this module writes.
        warnings.simplefilter("ignore", UserWarning)
        if b"FastWordpieceTokenize" in content:  # text_inputs="strings": tensorflow_text's ops
            import tensorflow_text
            from tensorflow.lite.python.interpreter import InterpreterWithCustomOps

            interpreter = InterpreterWithCustomOps(
                model_content=content, num_threads=num_threads,
                custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS)
        else:
            interpreter = tf.lite.Interpreter(model_content=content, num_threads=num_threads)
    return interpreter.get_signature_runner(SIGNATURE)


def input_specs(runner):
    """``{input name: (shape, dtype)}`` of a runner from `load_tflite` (``None``: any size)."""
    return {name: ([None if size < 0 else int(size) for size in details["shape_signature"]],
                   tf.as_dtype(details["dtype"]))
            for name, details in runner.get_input_details().items()}


def _image_inputs(x, shape):
    height, width = shape[1:3]
    images = to_uint8_rgb(np.asarray(x))
    if height is None or images.shape[1:3] == (height, width):
        return {"images": images}
    return {"images": as_image_batch(list(images), (height, width))}  # as a client resizes


def _token_inputs(model, x, specs):
    prepared = model.prepare(x)[0]
    length = specs["token_ids"][0][1]
    padding = {"token_ids": model.preprocessor.tokenizer.pad_token_id}
    feed = {}
    for name in specs:
        value = np.asarray(prepared[name])
        if name in TOKEN_INPUTS:
            value = np.pad(value[:, :length], [(0, 0), (0, length - min(value.shape[1], length))],
                           constant_values=padding.get(name, 0))
        feed[name] = value.astype(specs[name][1].as_numpy_dtype)
    return feed


def tflite_inputs(model, x, specs):
    """One raw batch ``x`` (what ``model.predict`` takes: uint8 images, texts) -> the inputs
    of the TFLite file whose `input_specs` are ``specs``: images resized to its fixed size
    (center crop, as the model resizes) or token ids padded to its ``sequence_length``."""
    if "images" in specs:
        return _image_inputs(x, specs["images"][0])
    if "texts" in specs:
        return {"texts": np.asarray(x.numpy() if isinstance(x, tf.Tensor) else x, dtype=object)}
    return _token_inputs(model, x, specs)


def _quantized(value, details):
    scale, zero_point = details["quantization"]
    if not scale or np.issubdtype(np.asarray(value).dtype, np.integer):
        return value
    info = np.iinfo(details["dtype"])
    return np.clip(np.round(value / scale + zero_point), info.min, info.max).astype(details["dtype"])


def run_tflite(runner, inputs):
    """Run a runner from `load_tflite` on ``inputs`` (a dict, see `tflite_inputs`) and return
    its output as float32 (uint8 outputs of int8 files dequantized)."""
    details = runner.get_input_details()
    outputs = runner(**{name: _quantized(value, details[name]) for name, value in inputs.items()})
    name, value = next(iter(outputs.items()))
    scale, zero_point = runner.get_output_details()[name]["quantization"]
    if scale:
        return ((value.astype("float32") - zero_point) * scale).astype("float32")
    return value.astype("float32")


def _labelled_batches(dataset, max_examples):
    seen = 0
    for batch in dataset:
        x, y = batch[0], batch[1]
        yield x, np.asarray(y)
        seen += len(np.asarray(y))
        if max_examples and seen >= max_examples:
            return


def _scores(task, labels, keras_outputs, tflite_outputs):
    """``(metric name, Keras score, TFLite score, agreement)``."""
    if task == "classification":
        labels = labels.argmax(-1) if labels.ndim == 2 else labels
        predicted = keras_outputs.argmax(-1), tflite_outputs.argmax(-1)
        return ("accuracy", *(float((p == labels).mean()) for p in predicted),
                float((predicted[0] == predicted[1]).mean()))
    if task == "multi_label":
        predicted = keras_outputs >= 0.5, tflite_outputs >= 0.5
        return ("binary_accuracy", *(float((p == (labels >= 0.5)).mean()) for p in predicted),
                float((predicted[0] == predicted[1]).mean()))
    errors = [float(np.abs(outputs - labels.reshape(outputs.shape)).mean())
              for outputs in (keras_outputs, tflite_outputs)]
    return ("mae", *errors, None)


def check_tflite(model, tflite_path, dataset, max_examples=None, verbose=True):
    """Run the TFLite file and ``model`` on held-out ``dataset`` and compare their scores.

    Args:
        model: The Keras model the file was exported from.
        tflite_path: The file (`export_tflite`).
        dataset: Held-out ``(inputs, labels)`` batches (a tl_suite dataset, not shuffled
            differently between passes: it is read once).
        max_examples: Stop after about this many examples (whole batches); None: all.
        verbose: Print the comparison.

    Returns:
        ``{"metric", "keras", "tflite", "change", "agreement", "max_difference", "examples"}``:
        accuracy (classification), binary accuracy (multi-label) or mean absolute error
        (regression) of each; ``change`` is TFLite minus Keras; ``agreement`` the share of
        examples (multi-label: decisions) given the same label; ``max_difference`` the
        largest difference between their outputs.

    Example:
    >>> import os, tempfile, numpy as np, tl_suite
    >>> from tl_suite.export.tflite import export_tflite, check_tflite
    >>> images = np.random.default_rng(0).integers(0, 255, (8, 32, 32, 3))
    >>> data = tl_suite.image_dataset(images=images, labels=np.arange(8) % 2, verbose=False,
    ...                               shuffle=False)
    >>> model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=2, weights=None)
    >>> path = export_tflite(model, os.path.join(tempfile.mkdtemp(), "m.tflite"), quantization="float16")
    >>> result = check_tflite(model, path, data, verbose=False)
    >>> result["agreement"], result["change"]
    (1.0, 0.0)
    """
    runner = load_tflite(tflite_path)
    specs = input_specs(runner)
    keras_outputs, tflite_outputs, labels = [], [], []
    for x, y in _labelled_batches(dataset, max_examples):
        keras_outputs.append(np.asarray(model(model.prepare(x)[0], training=False)))
        tflite_outputs.append(run_tflite(runner, tflite_inputs(model, x, specs)))
        labels.append(y)
    keras_outputs, tflite_outputs = np.concatenate(keras_outputs), np.concatenate(tflite_outputs)
    metric, keras_score, tflite_score, agreement = _scores(
        model.task, np.concatenate(labels), keras_outputs, tflite_outputs)
    result = {"metric": metric, "keras": keras_score, "tflite": tflite_score,
              "change": tflite_score - keras_score, "agreement": agreement,
              "max_difference": float(np.abs(keras_outputs - tflite_outputs).max()),
              "examples": len(keras_outputs)}
    if verbose:
        print(_summary(result, tflite_path))
    return result


def _summary(result, path):
    same = "" if result["agreement"] is None else f"; same label for {result['agreement']:.1%}"
    return (f"TFLite check of {os.path.basename(str(path))} on {result['examples']:,} held-out "
            f"examples: {result['metric']} Keras {result['keras']:.4f}, TFLite {result['tflite']:.4f} "
            f"(change {result['change']:+.4f}){same}; largest output difference "
            f"{result['max_difference']:.4f}")
