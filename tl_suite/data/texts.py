"""`text_dataset`: text tf.data pipelines from lists, CSV/JSONL columns, .txt folders or TFDS.

Datasets yield raw strings (or text pairs ``(first, second)``) with labels; the model's own
preprocessor tokenizes them inside tf.data (or `text_dataset` does it once, ``tokenize=True``).
Bad input never crashes an epoch: it is either a clear error naming the file/row and the fix,
or a counted skip listed in the report. The pipeline runs as named steps, each usable alone:
`read_texts` -> `check_texts` -> `encode_labels` -> `split_indices` -> `text_pipeline`.
"""

import numpy as np
import tensorflow as tf

from tl_suite.backbones.registry import get_text_backbone
from tl_suite.data.info import DatasetInfo
from tl_suite.data.labels import encode_labels, flag_rare_classes, nonfinite_labels, resolve_label_mode
from tl_suite.data.pipeline import cache_and_shuffle, check_one_source, finish
from tl_suite.data.report import DataReport
from tl_suite.data.split import check_split, sample_indices, select_subset, split_indices
from tl_suite.data.text_files import check_encoding, read_text_directory, read_text_table
from tl_suite.data.tfds import load_tfds
from tl_suite.data.tokenized import (
    bucketed_batches,
    gather_rows,
    padded_batches,
    pretokenize,
    row_dataset,
    token_lengths,
    tokenized_info,
)
from tl_suite.preprocessing.text import TextPreprocessor
from tl_suite.validation import check_integer

DEFAULT_MAX_CHARACTERS = 20_000


def _is_pair_list(texts):
    """``(list_a, list_b)``: a tuple of two sequences of texts (not two strings)."""
    return (isinstance(texts, tuple) and len(texts) == 2
            and all(isinstance(part, (list, tuple, np.ndarray)) for part in texts))


def _as_text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _example(item, pairs):
    """One in-memory example as a string or a pair of strings; None if it is not one."""
    if pairs:
        if isinstance(item, (tuple, list)) and len(item) == 2 and all(
                isinstance(part, (str, bytes)) for part in item):
            return tuple(_as_text(part) for part in item)
        return None
    return _as_text(item) if isinstance(item, (str, bytes)) else None


def read_text_lists(texts, labels, report):
    """In-memory texts (strings, pairs ``[(a, b), ...]`` or ``(list_a, list_b)``) and labels.

    Returns:
        ``(examples, labels, where)``; items that are not texts are skipped in ``report``.
    """
    if _is_pair_list(texts):
        if len(texts[0]) != len(texts[1]):
            raise ValueError(
                "`texts=(first_texts, second_texts)` needs as many second texts as first texts. "
                f"Received: {len(texts[0])} and {len(texts[1])}."
            )
        texts = list(zip(*texts))
    texts = list(texts)
    if labels is None or len(labels) != len(texts):
        raise ValueError(
            "`labels` must be given with `texts`, one per text. Received: "
            f"len(texts)={len(texts)}, len(labels)={None if labels is None else len(labels)}."
        )
    pairs = any(isinstance(item, (tuple, list)) for item in texts)
    examples, kept_labels, where = [], [], []
    for index, (item, label) in enumerate(zip(texts, labels)):
        example = _example(item, pairs)
        if example is None:
            why = "not a pair of strings" if pairs else "not a string (missing value?)"
            report.skip(f"texts[{index}]", why)
            continue
        examples.append(example)
        kept_labels.append(label)
        where.append(f"texts[{index}]")
    return examples, kept_labels, where


def read_texts(texts=None, labels=None, path=None, text_column="text", label_column="label",
               directory=None, tfds_name=None, tfds_split="train", class_names=None, verbose=True,
               encoding="utf-8", encoding_errors="strict"):
    """The read step of `text_dataset`: one source -> ``(examples, labels, where,
    class_names, report)``; examples are strings or ``(first, second)`` pairs. Files are
    decoded with ``encoding`` and ``encoding_errors`` (see `read_text_table`,
    `read_text_directory`)."""
    if texts is not None:
        report = DataReport(source="texts")
        return (*read_text_lists(texts, labels, report), class_names, report)
    if path is not None:
        report = DataReport(source=path)
        return (*read_text_table(path, text_column, label_column, report, encoding, encoding_errors),
                class_names, report)
    if directory is not None:
        report = DataReport(source=directory)
        return (*read_text_directory(directory, class_names, report, encoding, encoding_errors), report)
    report = DataReport(source=f"tfds:{tfds_name}")
    examples, ids, names = load_tfds(tfds_name, tfds_split, "text",
                                     lambda text: text.decode("utf-8", errors="replace"), verbose)
    where = [f"{tfds_name}[{i}]" for i in range(len(examples))]
    return examples, ids.tolist(), where, class_names or names, report


def check_texts(examples, labels, where, max_characters=DEFAULT_MAX_CHARACTERS, report=None):
    """The check step: skip examples with an empty text (either text of a pair), cut texts
    longer than ``max_characters``; both counted in ``report``. Returns the kept
    ``(examples, labels, where)``."""
    report = report if report is not None else DataReport(source="texts")
    kept = ([], [], [])
    for example, label, place in zip(examples, labels, where):
        parts = example if isinstance(example, tuple) else (example,)
        if not all(part.strip() for part in parts):
            report.skip(place, "empty or whitespace-only text")
            continue
        cut = sum(len(part) > max_characters for part in parts)
        report.note(f"texts longer than max_characters={max_characters}, cut there", cut)
        parts = tuple(part[:max_characters] for part in parts)
        for column, value in zip(kept, (parts if len(parts) == 2 else parts[0], label, place)):
            column.append(value)
    if not kept[0]:
        raise ValueError(f"No usable text in {report.source}.\n{report}")
    return kept


def skip_nonfinite_targets(examples, labels, where, label_mode="auto", class_names=None, report=None):
    """The check step for regression targets read from a file: with ``label_mode="float"``
    (given, or ``"auto"`` on numeric labels), rows whose target is NaN or inf are skipped and
    listed in ``report`` (``"non-finite target"``). Returns the kept ``(examples, labels,
    where)``."""
    if resolve_label_mode(labels, class_names, label_mode) != "float":
        return examples, labels, where
    bad = set(nonfinite_labels(labels))
    for index in sorted(bad):
        report.skip(where[index], f"non-finite target {labels[index]!r}")
    keep = [i for i in range(len(labels)) if i not in bad]
    return [examples[i] for i in keep], [labels[i] for i in keep], [where[i] for i in keep]


def _read_and_check(sources, class_names, label_mode, max_characters, encoding, encoding_errors,
                    verbose):
    """read -> check -> encode: ``(examples, encoded, class_names, label_mode, report)``."""
    texts, labels, path, text_column, label_column, directory, tfds_name, tfds_split = sources
    inferred = class_names is None and tfds_name is None
    examples, raw_labels, where, class_names, report = read_texts(
        texts, labels, path, text_column, label_column, directory, tfds_name, tfds_split,
        class_names, verbose, encoding, encoding_errors)
    examples, raw_labels, where = check_texts(examples, raw_labels, where, max_characters, report)
    if path is not None:
        examples, raw_labels, where = skip_nonfinite_targets(
            examples, raw_labels, where, label_mode, class_names, report)
    encoded, class_names, label_mode = encode_labels(raw_labels, where, class_names, label_mode)
    if inferred:
        flag_rare_classes(encoded, class_names, where, report)
    return examples, encoded, class_names, label_mode, report


def text_columns(examples):
    """Examples -> a tuple of string arrays: one column, or two for text pairs."""
    if examples and isinstance(examples[0], tuple):
        return tuple(np.asarray([example[i] for example in examples], dtype=object).astype(str)
                     for i in range(2))
    return (np.asarray(examples, dtype=object).astype(str),)


def select_texts(columns, indices):
    """The examples ``indices`` of `text_columns`: a string array, or a pair of them."""
    selected = tuple(column[indices] for column in columns)
    return selected if len(selected) == 2 else selected[0]


def packed_lengths(tokenizer, columns):
    """Length of each example packed for the model: its word pieces plus [CLS] and one [SEP]
    per text (``[CLS] a [SEP] b [SEP]`` for pairs)."""
    return sum(token_lengths(tokenizer, column) for column in columns) + len(columns) + 1


def tokenize_texts(tokenizer, columns, sequence_length):
    """Tokenize every example once (pairs packed ``[CLS] a [SEP] b [SEP]``): ragged rows of
    ``token_ids``, ``padding_mask`` and ``segment_ids``."""
    preprocessor = TextPreprocessor(tokenizer, sequence_length=sequence_length, dynamic_padding=False)
    # `y=None` explicitly: keras-hub preprocessors read a lone 2-tuple as `(x, y)`, not a pair.
    rows, _ = pretokenize(
        lambda *parts: (preprocessor(parts if len(parts) == 2 else parts[0], y=None), None),
        list(columns))
    return rows


def text_pipeline(x, labels, training, batch_size=32, cache=True, shuffle=True, seed=1337,
                  lengths=None, sequence_length=128, pad_token_id=0):
    """The pipeline step of `text_dataset`: examples -> batched tf.data.

    ``x`` is a string array, a pair of string arrays, or a dict of token-id rows (from
    `tokenize_texts`, padded per batch with ``pad_token_id``). With ``lengths`` (packed token
    lengths, or anything for token rows) examples of similar length are batched together.
    """
    shuffled = training and shuffle
    if isinstance(x, dict):
        dataset = cache_and_shuffle(row_dataset((x, labels)), cache, shuffled, len(labels), seed)
        return padded_batches(dataset, batch_size, pad_token_id, 0,
                              sequence_length if lengths is not None else None)
    if lengths is None:
        dataset = tf.data.Dataset.from_tensor_slices((x, labels))
        return cache_and_shuffle(dataset, cache, shuffled, len(labels), seed).batch(batch_size)
    clipped = np.minimum(lengths, sequence_length).astype("int32")
    dataset = tf.data.Dataset.from_tensor_slices((x, labels, clipped))
    dataset = cache_and_shuffle(dataset, cache, shuffled, len(labels), seed)
    return bucketed_batches(dataset, lambda text, label, length: length, sequence_length,
                            batch_size).map(lambda text, label, length: (text, label))


def _check_arguments(batch_size, validation_split, subset, backbone, bucket_by_length, tokenize):
    check_split(validation_split, subset)
    check_integer("batch_size", batch_size)
    if bucket_by_length and backbone is None:
        raise ValueError(
            "bucket_by_length=True needs `backbone` (to measure token lengths), e.g. "
            "backbone='minilm_l6'. Received: backbone=None."
        )
    if tokenize and backbone is None:
        raise ValueError(
            "tokenize=True needs `backbone` (whose tokenizer to use), e.g. backbone='minilm_l6'. "
            "Received: backbone=None."
        )


COUNTING_BACKBONE = "minilm_l6"  # whose tokenizer counts truncation when no backbone is given


def _count_truncated(report, lengths, sequence_length, backbone_name):
    """Note how many examples are longer than ``sequence_length`` tokens and how many tokens
    they lose (median and most)."""
    lost = lengths[lengths > sequence_length] - sequence_length
    if len(lost):
        report.note(
            f"texts longer than sequence_length={sequence_length} tokens of {backbone_name}'s "
            f"tokenizer (the model keeps the first tokens; tokens lost: median "
            f"{int(np.median(lost)):,}, most {int(lost.max()):,})", len(lost),
        )


def _truncation_lengths(backbone, columns):
    """``(packed lengths, backbone name)`` by ``backbone``'s tokenizer, or by the default text
    backbone's when None (None when that one is not installed)."""
    try:
        spec = get_text_backbone(backbone or COUNTING_BACKBONE)
        return packed_lengths(spec.tokenizer(), columns), spec.name
    except FileNotFoundError:
        if backbone is not None:
            raise
        return None, None


def text_dataset(
    texts=None,
    labels=None,
    path=None,
    text_column="text",
    label_column="label",
    directory=None,
    tfds_name=None,
    tfds_split="train",
    class_names=None,
    label_mode="auto",
    validation_split=None,
    subset=None,
    seed=1337,
    batch_size=32,
    shuffle=True,
    backbone=None,
    sequence_length=128,
    bucket_by_length=False,
    tokenize=False,
    max_characters=DEFAULT_MAX_CHARACTERS,
    max_examples=None,
    cache=True,
    verbose=True,
    encoding="utf-8",
    encoding_errors="strict",
):
    """Make batched ``(strings, labels)`` datasets for tl_suite text models.

    Give one source: ``texts`` with ``labels`` (Python lists or arrays), ``path`` (a CSV or
    JSONL file with ``text_column`` and ``label_column``), ``directory`` (one folder of .txt
    files per class) or ``tfds_name`` (online). Labels may be class names or ids (single-label),
    lists of names or ``"a|b"`` strings (multi-label, ``label_mode="multi_hot"``) or numbers
    (regression, ``label_mode="float"``).

    Text pairs (question + answer, user text + item text): ``text_column=("question",
    "answer")`` reads two columns, ``texts=[("a", "b"), ...]`` or ``texts=(first_texts,
    second_texts)`` gives them in memory. Batches are then ``((first, second), labels)``, which
    the text models pack as ``[CLS] first [SEP] second [SEP]``; the info has
    ``text_pairs=True``.

    Bad input: empty or whitespace-only texts (either text of a pair) and rows with missing
    values are skipped and counted; texts longer than ``max_characters`` are cut there and
    counted; examples longer than ``sequence_length`` tokens (a pair: both texts together) are
    counted with the tokens they lose (median, most), by ``backbone``'s tokenizer or, without
    it, by the default text backbone's (``minilm_l6``). Files are decoded with
    ``encoding`` (UTF-8 by default): with ``encoding_errors="strict"`` a .txt file of a
    ``directory`` that does not decode is skipped and listed, a CSV/JSONL file that does not is
    an error naming the byte offset and the fix; with ``"replace"`` bad bytes become U+FFFD
    and each such file is named in ``report.flagged``. Binary files are skipped (directory) or
    an error (table). Regression targets that are NaN or inf are skipped and listed (files) or
    an error naming them (``labels``). Without ``class_names``, a class with fewer than 3
    examples, much rarer than the others, is flagged in the report and warned about as a likely
    typo (kept; correct it, or pass ``class_names`` to refuse unknown labels). Labels outside
    the class list, a missing column, or texts and labels of different lengths are errors
    naming the file/rows. The report is printed (``verbose``) and kept in the dataset's info.

    Args:
        texts, labels: In-memory texts (or pairs) and labels.
        path, text_column, label_column: CSV/JSONL source; ``text_column`` may be a pair of
            column names.
        directory: Folder of class folders of .txt files.
        tfds_name, tfds_split: TensorFlow Datasets source (needs internet the first time).
        class_names: Class order; defaults to sorted label names (folder names).
        label_mode: ``"auto"``, ``"int"``, ``"multi_hot"`` or ``"float"``.
        validation_split, subset, seed: Seeded split as in `image_dataset`.
        batch_size: Batch size.
        shuffle: Shuffle the training data every epoch.
        backbone: Text backbone name or spec, to count truncated texts (default: by
            ``minilm_l6``'s tokenizer), bucket by length and tokenize.
        sequence_length: Model sequence length (for the truncation count).
        bucket_by_length: Batch texts of similar token length together (needs ``backbone``), so
            dynamic padding pads little.
        tokenize: Tokenize every text once here (needs ``backbone``) instead of in every epoch
            inside the model; batches are then ``({"token_ids", "padding_mask", ...}, labels)``
            padded to their longest text. Models built with the same ``backbone`` and
            ``sequence_length`` take them as they are (`fit` checks that they match).
        max_characters: Texts are cut to this many characters before tokenization.
        max_examples: Keep a seeded random subset of this many examples (quick experiments).
        cache: Cache the dataset in memory (True), under a file prefix (str) or not (False).
        verbose: Print the report.
        encoding: Text encoding of the files (pandas' name), e.g. ``"latin-1"``.
        encoding_errors: ``"strict"`` (a file that does not decode is refused) or
            ``"replace"`` (bad bytes become U+FFFD; the file is named in the report).

    Returns:
        One `tf.data.Dataset`, or ``(train, validation)`` for ``subset="both"``; each carries a
        `DatasetInfo` (``dataset.info``; shortcuts ``class_names``, ``report``,
        ``num_examples``).

    Example:
    >>> import tl_suite
    >>> data = tl_suite.text_dataset(texts=["good film", "  ", "bad film"],
    ...                              labels=["pos", "pos", "neg"], batch_size=2, shuffle=False,
    ...                              verbose=False)
    >>> data.class_names, data.report.used, len(data.report.skipped)
    (['neg', 'pos'], 2, 1)
    >>> pairs = tl_suite.text_dataset(texts=[("is it good?", "yes"), ("is it bad?", "no")],
    ...                               labels=[1, 0], shuffle=False, verbose=False)
    >>> (first, second), labels = next(iter(pairs))
    >>> second.numpy().tolist(), pairs.info.text_pairs
    ([b'yes', b'no'], True)
    """
    check_one_source("`texts` (with `labels`), `path`, `directory` or `tfds_name`",
                     texts=texts, path=path, directory=directory, tfds_name=tfds_name)
    _check_arguments(batch_size, validation_split, subset, backbone, bucket_by_length, tokenize)
    check_encoding(encoding, encoding_errors)
    examples, encoded, class_names, label_mode, report = _read_and_check(
        (texts, labels, path, text_column, label_column, directory, tfds_name, tfds_split),
        class_names, label_mode, max_characters, encoding, encoding_errors, verbose)
    chosen = sample_indices(len(examples), max_examples, seed)
    report.note(f"examples left out by max_examples={max_examples}", len(examples) - len(chosen))
    columns = tuple(column[chosen] for column in text_columns(examples))
    encoded = encoded[chosen]
    report.used = len(encoded)
    report.count_classes(encoded, class_names)
    rows = tokenized = None
    lengths, counted_by = _truncation_lengths(backbone, columns)
    if lengths is not None:
        _count_truncated(report, lengths, sequence_length, counted_by)
    if tokenize:
        spec = get_text_backbone(backbone)
        tokenizer = spec.tokenizer()
        rows = tokenize_texts(tokenizer, columns, sequence_length)
        tokenized = tokenized_info(spec.name, sequence_length, tokenizer)
    if verbose:
        print(report)
    options = dict(batch_size=batch_size, cache=cache, shuffle=shuffle, seed=seed,
                   sequence_length=sequence_length,
                   pad_token_id=tokenizer.pad_token_id if tokenize else 0)
    info = DatasetInfo(kind="text", class_names=class_names, label_mode=label_mode,
                       text_pairs=len(columns) == 2, tokenized=tokenized, report=report)

    def make(indices, training):
        x = gather_rows(rows, indices) if rows is not None else select_texts(columns, indices)
        dataset = text_pipeline(x, encoded[indices], training,
                                lengths=lengths[indices] if bucket_by_length else None, **options)
        return finish(dataset, info.replace(num_examples=len(indices), shuffled=bool(training and shuffle)))

    return select_subset(split_indices(len(encoded), validation_split, subset, seed), make, subset,
                         validation_split, seed)
