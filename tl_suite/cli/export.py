"""``tl-suite export MODEL PATH``: a SavedModel (or TFLite file) with the preprocessing and
labels inside, and its ``MODEL_CARD.md`` (`tl_suite.export.export`)."""

from tl_suite.cli import options
from tl_suite.cli.data import (
    check_kind,
    check_path,
    data_kind,
    load_model,
    model_reader_options,
    read_dataset,
)

HELP = "export a trained model as a TensorFlow SavedModel or a TFLite file, with its model card"

EPILOG = """\
examples (offline):
  tl-suite export photos.keras serving/photos/1
  tl-suite export photos.keras photos.tflite --quantization float16

The SavedModel takes what a client has (encoded JPEG/PNG bytes, raw strings or sentences) and
returns labels, probabilities and label names; it loads with tf.saved_model.load in a process
that imports only tensorflow (text models: also tensorflow_text) and serves with TF Serving."""


def add_parser(subparsers, formatter_class):
    parser = options.add_command(subparsers, "export", HELP, formatter_class, EPILOG)
    options.add_model_argument(parser)
    parser.add_argument(
        "path", metavar="PATH",
        help="the SavedModel folder to write (for TF Serving: "
             "<base>/<model name>/<version>) or a .tflite file")
    parser.add_argument("--format", choices=("saved_model", "tflite"), default=None,
                        help="what to write (default: tflite for a PATH ending in .tflite, "
                             "else saved_model)")
    parser.add_argument("--quantization", default=None, metavar="NAME",
                        help="TFLite only: float16, dynamic_int8 or int8 (full integer: needs "
                             "--representative-data) (default: none, float32)")
    parser.add_argument("--representative-data", default=None, metavar="DATA",
                        help="--quantization int8: labelled data of the model's kind (e.g. "
                             "the training folder); about 200 shuffled examples calibrate the "
                             "int8 ranges (default: none)")
    parser.add_argument("--threshold", type=options.probability, default=0.5, metavar="P",
                        help="SavedModel of a multi-label model: labels output at probability "
                             ">= P (default: 0.5)")
    options.add_batch_size(parser, what="examples per batch of --representative-data")
    parser.set_defaults(run=run)


def run(args):
    """Load the model, export it, say where."""
    export = _export_function()
    model = load_model(args.model)
    format = args.format or ("tflite" if args.path.lower().endswith(".tflite") else "saved_model")
    extra = {} if format == "tflite" else {"threshold": args.threshold}
    artifact = export(model, args.path, format=format, quantization=args.quantization,
                      representative_data=_representative_data(model, args), **extra)
    print(f"Exported {args.model} as {format} to {artifact} (with MODEL_CARD.md)")


def _export_function():
    try:
        from tl_suite.export import export  # loads the export code (and TFLite) only when asked
    except ImportError as error:
        raise RuntimeError(f"This tl_suite has no working exporter ({error}). "
                           "Reinstall tl_suite.") from None
    return export


def _representative_data(model, args):
    """``--representative-data`` read as `evaluate` reads data for ``model``, or None."""
    if args.representative_data is None:
        return None
    path = check_path(args.representative_data, "--representative-data")
    kind = data_kind(path, argument="--representative-data")
    check_kind(model, kind, path, argument="--representative-data")
    split = dict(shuffle=True, seed=1337, batch_size=args.batch_size, verbose=False)
    return read_dataset(kind, path, split, **model_reader_options(model, kind))
