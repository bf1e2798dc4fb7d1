"""Text tf.data pipelines: lists, CSV/JSONL columns, folders of .txt files, TFDS, CoNLL files.

Datasets yield raw strings (or ragged batches of words) with labels; the model's own keras-hub
preprocessor tokenizes them inside tf.data. Bad input never crashes an epoch: it is either a
clear error naming the file/row and the fix, or a counted skip listed in ``dataset.report``.
"""

import dataclasses
import os

import numpy as np
import tensorflow as tf

from tl_suite import backbones

DEFAULT_MAX_CHARACTERS = 20_000
_AUTOTUNE = tf.data.AUTOTUNE


@dataclasses.dataclass
class TextReport:
    """What reading the data found: examples used, skipped (with where and why), and notes."""

    source: str
    used: int = 0
    skipped: list = dataclasses.field(default_factory=list)
    notes: dict = dataclasses.field(default_factory=dict)

    def note(self, message, count=1):
        if count:
            self.notes[message] = self.notes.get(message, 0) + count

    def __str__(self):
        lines = [f"Read {self.source}: {self.used} examples used."]
        for message, count in sorted(self.notes.items()):
            lines.append(f"  {count}: {message}")
        if self.skipped:
            lines.append(f"  skipped {len(self.skipped)}:")
            for where, reason in self.skipped[:20]:
                lines.append(f"    {where}: {reason}")
            if len(self.skipped) > 20:
                lines.append(f"    ... and {len(self.skipped) - 20} more (see report.skipped)")
        return "\n".join(lines)


def _read_text_file(path, report):
    with open(path, "rb") as file:
        data = file.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        report.note("files with invalid UTF-8 bytes, decoded with replacement characters (U+FFFD)")
        return data.decode("utf-8", errors="replace")


def read_text_directory(directory, class_names=None, report=None):
    """Texts and label names from ``directory/<class_name>/*.txt``."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            "`directory` must be a folder with one sub-folder of .txt files per class. "
            f"Received: directory={directory!r}."
        )
    found = sorted(e for e in os.listdir(directory)
                   if os.path.isdir(os.path.join(directory, e)) and not e.startswith("."))
    class_names = list(class_names) if class_names is not None else found
    missing = [name for name in class_names if name not in found]
    if missing or not class_names:
        raise ValueError(
            f"No class folders {missing or ''} in {directory} (found {found}). Put texts in "
            f"{directory}/<class_name>/*.txt. Received: class_names={class_names}."
        )
    texts, labels, where = [], [], []
    for name in class_names:
        folder = os.path.join(directory, name)
        files = sorted(f for f in os.listdir(folder) if f.endswith(".txt") and not f.startswith("."))
        if not files:
            raise ValueError(
                f"Class folder {folder} has no .txt files. Add texts, remove the folder, or pass "
                "`class_names` without it."
            )
        for file_name in files:
            path = os.path.join(folder, file_name)
            texts.append(_read_text_file(path, report))
            labels.append(name)
            where.append(path)
    return texts, labels, where, class_names


def read_text_table(path, text_column="text", label_column="label", report=None):
    """Texts and labels from a CSV or JSONL file (pandas); rows with missing values are skipped."""
    import pandas as pd

    if not os.path.exists(path):
        raise FileNotFoundError(f"File not found. Received: path={path!r}.")
    if path.endswith((".jsonl", ".json")):
        frame = pd.read_json(path, lines=path.endswith(".jsonl"), dtype=False)
        first_row = 1
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=True, encoding_errors="replace")
        first_row = 2  # line 1 is the header
    columns = [text_column] + ([label_column] if label_column is not None else [])
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path} has no column(s) {missing}. Its columns are {list(frame.columns)}; pass "
            f"`text_column=` / `label_column=`. Received: text_column={text_column!r}, "
            f"label_column={label_column!r}."
        )
    texts, labels, where = [], [], []
    replaced = 0
    for position, row in enumerate(frame[columns].itertuples(index=False)):
        line = f"{path}:{position + first_row}"
        text = row[0]
        label = row[1] if label_column is not None else None
        if text is None or (isinstance(text, float) and np.isnan(text)):
            report.skipped.append((line, f"missing value in column {text_column!r}"))
            continue
        if label_column is not None and (label is None or (isinstance(label, float) and np.isnan(label))):
            report.skipped.append((line, f"missing value in column {label_column!r}"))
            continue
        text = str(text)
        replaced += "\ufffd" in text
        texts.append(text)
        labels.append(label)
        where.append(line)
    report.note("rows with invalid UTF-8 bytes, decoded with replacement characters (U+FFFD)", replaced)
    return texts, labels, where


def _encode_labels(labels, where, class_names, label_mode):
    """Labels as int ids, multi-hot rows or floats; unknown names are an error, never a guess."""
    if label_mode == "auto":
        sample = next((label for label in labels if label is not None), None)
        if isinstance(sample, (list, tuple, set)):
            label_mode = "multi_hot"
        elif isinstance(sample, (float, np.floating)) and class_names is None:
            label_mode = "float"
        else:
            label_mode = "int"
    if label_mode == "float":
        try:
            return np.asarray(labels, dtype="float32"), None
        except (TypeError, ValueError) as error:
            raise ValueError(f"label_mode='float' needs numeric labels: {error}.") from None
    if label_mode == "multi_hot":
        rows = [list(label) if isinstance(label, (list, tuple, set)) else
                [part.strip() for part in str(label).split("|") if part.strip()] for label in labels]
        names = class_names or sorted({name for row in rows for name in map(str, row)})
        index = {name: i for i, name in enumerate(names)}
        bad = [(where[i], name) for i, row in enumerate(rows) for name in map(str, row) if name not in index]
        if bad:
            raise ValueError(_unknown_labels_message(bad, names))
        encoded = np.zeros((len(rows), len(names)), dtype="float32")
        for i, row in enumerate(rows):
            encoded[i, [index[str(name)] for name in row]] = 1.0
        return encoded, list(names)
    if label_mode != "int":
        raise ValueError(
            "`label_mode` must be 'auto', 'int', 'multi_hot' or 'float'. "
            f"Received: label_mode={label_mode!r}."
        )
    if all(isinstance(label, (int, np.integer)) for label in labels):
        ids = np.asarray(labels, dtype="int32")
        names = class_names or [str(i) for i in range(int(ids.max(initial=0)) + 1)]
        bad = [(where[i], int(v)) for i, v in enumerate(ids) if not 0 <= v < len(names)]
        if bad:
            raise ValueError(_unknown_labels_message(bad, names))
        return ids, list(names)
    as_text = [str(label) for label in labels]
    names = class_names or sorted(set(as_text))
    index = {str(name): i for i, name in enumerate(names)}
    bad = [(where[i], label) for i, label in enumerate(as_text) if label not in index]
    if bad:
        raise ValueError(_unknown_labels_message(bad, names))
    return np.asarray([index[label] for label in as_text], dtype="int32"), list(names)


def _unknown_labels_message(bad, names):
    shown = ", ".join(f"{where}: {label!r}" for where, label in bad[:5])
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    return (
        f"{len(bad)} labels are not in the class list {list(names)}: {shown}{more}. Fix those "
        "rows or add the names to `class_names`."
    )


def _token_lengths(spec, texts, batch_size=256):
    """Number of tokens of each text under ``spec``'s tokenizer (for reports and bucketing)."""
    tokenizer = spec.tokenizer()
    count = tf.function(lambda batch: tokenizer(batch).row_lengths(), reduce_retracing=True)
    lengths = [count(tf.constant(texts[i:i + batch_size])).numpy() for i in range(0, len(texts), batch_size)]
    return np.concatenate(lengths) if lengths else np.zeros(0, dtype=int)


def _pretokenize(run, inputs, chunk=256):
    """Run a preprocessor once over ``inputs`` in chunks; return ragged per-example rows.

    ``run(batch) -> (x_dict, labels_or_None)`` is traced (keras-hub's TensorFlow path). Rows keep
    only their real positions (``padding_mask``), so batches are padded later, per batch.
    """
    traced = tf.function(run, reduce_retracing=True)
    columns, label_parts = {}, []
    count = int(inputs[0].shape[0])
    for start in range(0, count, chunk):
        x, labels = traced(*[part[start:start + chunk] for part in inputs])
        lengths = tf.reduce_sum(tf.cast(x["padding_mask"], tf.int32), axis=-1)
        for key, value in x.items():
            columns.setdefault(key, []).append(tf.RaggedTensor.from_tensor(value, lengths=lengths))
        if labels is not None:
            label_parts.append(tf.RaggedTensor.from_tensor(labels, lengths=lengths))
    rows = {key: tf.concat(parts, axis=0) for key, parts in columns.items()}
    return rows, (tf.concat(label_parts, axis=0) if label_parts else None)


def _gather_rows(rows, indices):
    return {key: tf.gather(value, indices) for key, value in rows.items()}


def _row_dataset(columns):
    """Dataset of per-example rows of ragged ``columns`` (as plain tensors, for padded_batch)."""
    identity = tf.autograph.experimental.do_not_convert(lambda *row: row)
    return tf.data.Dataset.from_tensor_slices(columns).map(identity)


def _tokenized_batches(dataset, batch_size, pad_token_id, label_pad, bucket_boundaries=None):
    """Pad each batch of tokenized rows to its longest row (optionally bucketed by length)."""
    x_spec, y_spec = dataset.element_spec
    padding_values = (
        {key: tf.constant(False if spec.dtype == tf.bool else (pad_token_id if key == "token_ids" else 0),
                          spec.dtype) for key, spec in x_spec.items()},
        tf.constant(label_pad, y_spec.dtype),
    )
    if bucket_boundaries:
        return dataset.bucket_by_sequence_length(
            lambda x, y: tf.shape(x["token_ids"])[0], bucket_boundaries,
            [batch_size] * (len(bucket_boundaries) + 1), padding_values=padding_values,
        )
    return dataset.padded_batch(batch_size, padding_values=padding_values)


def _bucket_boundaries(sequence_length):
    return [b for b in (16, 32, 48, 64, 96, 128, 192, 256, 384) if b < sequence_length]


def _split(count, validation_split, subset, seed):
    if (validation_split is None) != (subset is None):
        raise ValueError(
            "`validation_split` and `subset` go together (e.g. validation_split=0.2, "
            f"subset='both'). Received: validation_split={validation_split!r}, subset={subset!r}."
        )
    if subset not in (None, "training", "validation", "both"):
        raise ValueError(
            f"`subset` must be 'training', 'validation', 'both' or None. Received: subset={subset!r}."
        )
    if validation_split is None:
        return {"all": np.arange(count)}
    if not 0 < validation_split < 1:
        raise ValueError(f"`validation_split` must be in (0, 1). Received: validation_split={validation_split!r}.")
    order = np.random.default_rng(seed).permutation(count)
    cut = int(round(count * (1 - validation_split)))
    if cut in (0, count):
        raise ValueError(f"validation_split={validation_split} leaves an empty subset of {count} examples.")
    return {"training": order[:cut], "validation": order[cut:]}


def _finish(parts, make, subset):
    if "all" in parts:
        return make(parts["all"], True)
    train, validation = make(parts["training"], True), make(parts["validation"], False)
    return {"training": train, "validation": validation, "both": (train, validation)}[subset]


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
):
    """Make batched ``(strings, labels)`` datasets for tl_suite text models.

    Give one source: ``texts`` with ``labels`` (Python lists or arrays), ``path`` (a CSV or
    JSONL file with ``text_column`` and ``label_column``), ``directory`` (one folder of .txt
    files per class) or ``tfds_name`` (online). Labels may be class names or ids (single-label),
    lists of names or ``"a|b"`` strings (multi-label, ``label_mode="multi_hot"``) or numbers
    (regression, ``label_mode="float"``).

    Bad input: empty or whitespace-only texts and rows with missing values are skipped and
    counted; invalid UTF-8 is decoded with replacement characters and counted; texts longer than
    ``max_characters`` are cut there and counted; with ``backbone`` given, texts longer than
    ``sequence_length`` tokens are counted (the model truncates them). Labels outside the class
    list, a missing column, or texts and labels of different lengths are errors naming the
    file/rows. The report is printed (``verbose``) and kept in ``dataset.report``.

    Args:
        texts, labels: In-memory texts and labels.
        path, text_column, label_column: CSV/JSONL source.
        directory: Folder of class folders of .txt files.
        tfds_name, tfds_split: TensorFlow Datasets source (needs internet the first time).
        class_names: Class order; defaults to sorted label names (folder names).
        label_mode: ``"auto"``, ``"int"``, ``"multi_hot"`` or ``"float"``.
        validation_split, subset, seed: Seeded split as in `image_dataset`.
        batch_size: Batch size.
        shuffle: Shuffle the training data every epoch.
        backbone: Text backbone name or spec, to count truncated texts and bucket by length.
        sequence_length: Model sequence length (for the truncation count).
        bucket_by_length: Batch texts of similar token length together (needs ``backbone``), so
            dynamic padding pads little.
        tokenize: Tokenize every text once here (needs ``backbone``) instead of in every epoch
            inside the model; batches are then ``({"token_ids", "padding_mask", ...}, labels)``
            padded to their longest text. Models built with the same ``backbone`` and
            ``sequence_length`` take them as they are (`fit` checks that they match).
        max_characters: Texts are cut to this many characters before tokenization.
        max_examples: Keep a seeded random subset of this many examples (quick experiments).
        cache: Cache the dataset in memory.
        verbose: Print the report.

    Returns:
        One `tf.data.Dataset`, or ``(train, validation)`` for ``subset="both"``; each carries
        ``class_names``, ``report`` and ``num_examples``.

    Example:
    >>> import tl_suite
    >>> data = tl_suite.text_dataset(texts=["good film", "  ", "bad film"],
    ...                              labels=["pos", "pos", "neg"], batch_size=2, shuffle=False,
    ...                              verbose=False)
    >>> data.class_names, data.report.used, len(data.report.skipped)
    (['neg', 'pos'], 2, 1)
    """
    sources = [texts is not None, path is not None, directory is not None, tfds_name is not None]
    if sum(sources) != 1:
        raise ValueError(
            "Give exactly one source: `texts` (with `labels`), `path`, `directory` or "
            f"`tfds_name`. Received: path={path!r}, directory={directory!r}, tfds_name={tfds_name!r}."
        )
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}.")
    if bucket_by_length and backbone is None:
        raise ValueError("bucket_by_length=True needs `backbone` (to measure token lengths).")
    if tokenize and backbone is None:
        raise ValueError("tokenize=True needs `backbone` (whose tokenizer to use), e.g. backbone='minilm_l6'.")
    if texts is not None:
        report = TextReport(source="texts")
        texts = list(texts)
        if labels is None or len(labels) != len(texts):
            raise ValueError(
                "`labels` must be given with `texts`, one per text. Received: "
                f"len(texts)={len(texts)}, len(labels)={None if labels is None else len(labels)}."
            )
        labels = list(labels)
        where = [f"texts[{i}]" for i in range(len(texts))]
        non_strings = [w for w, t in zip(where, texts) if not isinstance(t, (str, bytes))]
        for w in non_strings:
            report.skipped.append((w, "not a string (missing value?)"))
        keep = [i for i, t in enumerate(texts) if isinstance(t, (str, bytes))]
        texts = [texts[i].decode("utf-8", "replace") if isinstance(texts[i], bytes) else texts[i] for i in keep]
        labels, where = [labels[i] for i in keep], [where[i] for i in keep]
    elif path is not None:
        report = TextReport(source=path)
        texts, labels, where = read_text_table(path, text_column, label_column, report)
    elif directory is not None:
        report = TextReport(source=directory)
        texts, labels, where, class_names = read_text_directory(directory, class_names, report)
    else:
        report = TextReport(source=f"tfds:{tfds_name}")
        texts, labels, class_names = _load_tfds_text(tfds_name, tfds_split)
        where = [f"{tfds_name}[{i}]" for i in range(len(texts))]

    kept_texts, kept_labels, kept_where = [], [], []
    for text, label, place in zip(texts, labels, where):
        if not text.strip():
            report.skipped.append((place, "empty or whitespace-only text"))
            continue
        if len(text) > max_characters:
            report.note(f"texts longer than max_characters={max_characters}, cut there")
            text = text[:max_characters]
        kept_texts.append(text)
        kept_labels.append(label)
        kept_where.append(place)
    if not kept_texts:
        raise ValueError(f"No usable text in {report.source}.\n{report}")
    encoded, class_names = _encode_labels(kept_labels, kept_where, class_names, label_mode)
    if max_examples is not None and max_examples < len(kept_texts):
        chosen = np.sort(np.random.default_rng(seed).choice(len(kept_texts), max_examples, replace=False))
        kept_texts = [kept_texts[i] for i in chosen]
        encoded = encoded[chosen]
        report.note(f"examples left out by max_examples={max_examples}", len(kept_where) - max_examples)
    report.used = len(kept_texts)
    lengths = None
    if backbone is not None:
        spec = backbones.get_text_backbone(backbone)
        lengths = _token_lengths(spec, kept_texts)
        report.note(
            f"texts longer than sequence_length={sequence_length} tokens (the model keeps the "
            "first tokens)", int((lengths > sequence_length - 2).sum()),
        )
    rows = tokenized = None
    if tokenize:
        from tl_suite.text_models import TextPreprocessor

        tokenizer = spec.tokenizer()
        tokenized = _tokenized_info(spec, sequence_length, tokenizer)
        preprocessor = TextPreprocessor(tokenizer, sequence_length=sequence_length, dynamic_padding=False)
        rows, _ = _pretokenize(lambda batch: (preprocessor(batch), None),
                               [np.asarray(kept_texts, dtype=object).astype(str)])
    if verbose:
        print(report)
    parts = _split(len(kept_texts), validation_split, subset, seed)
    text_array = np.asarray(kept_texts, dtype=object)

    def make(indices, training):
        columns = (text_array[indices].astype(str), encoded[indices])
        dataset = tf.data.Dataset.from_tensor_slices(columns)
        shuffled = training and shuffle
        if rows is not None:
            dataset = _row_dataset((_gather_rows(rows, indices), encoded[indices]))
            if cache:
                dataset = dataset.cache()
            if shuffled:
                dataset = dataset.shuffle(len(indices), seed=seed, reshuffle_each_iteration=True)
            dataset = _tokenized_batches(
                dataset, batch_size, tokenizer.pad_token_id, 0,
                _bucket_boundaries(sequence_length) if bucket_by_length else None,
            )
        elif bucket_by_length and lengths is not None:
            dataset = tf.data.Dataset.from_tensor_slices((*columns, np.minimum(lengths[indices], sequence_length)))
            if cache:
                dataset = dataset.cache()
            if shuffled:
                dataset = dataset.shuffle(len(indices), seed=seed, reshuffle_each_iteration=True)
            boundaries = _bucket_boundaries(sequence_length)
            dataset = dataset.bucket_by_sequence_length(
                lambda text, label, length: tf.cast(length, tf.int32), boundaries,
                [batch_size] * (len(boundaries) + 1),
            ).map(lambda text, label, length: (text, label))
        else:
            if cache:
                dataset = dataset.cache()
            if shuffled:
                dataset = dataset.shuffle(len(indices), seed=seed, reshuffle_each_iteration=True)
            dataset = dataset.batch(batch_size)
        dataset = dataset.prefetch(_AUTOTUNE)
        dataset.class_names = class_names
        dataset.report = report
        dataset.num_examples = len(indices)
        dataset.shuffled = shuffled
        dataset.augmented = False
        dataset.tokenized = tokenized
        return dataset

    return _finish(parts, make, subset)


def _tokenized_info(spec, sequence_length, tokenizer):
    """What a pre-tokenized dataset was made with (`fit` checks it against the model)."""
    return {"backbone": spec.name, "sequence_length": sequence_length,
            "vocabulary_size": int(tokenizer.vocabulary_size())}


def _load_tfds_text(name, split):
    import tensorflow_datasets as tfds

    try:
        dataset, info = tfds.load(name, split=split, as_supervised=True, with_info=True)
    except Exception as error:
        if "dataset not found" in str(error).lower():
            raise ValueError(f"Unknown TFDS dataset. Received: tfds_name={name!r}.") from None
        raise RuntimeError(
            f"Could not download TFDS dataset {name!r} (no internet?): {str(error)[:300]}\n"
            "Offline alternatives: `text_dataset(texts=..., labels=...)`, "
            "`text_dataset(path='data.csv')` or `text_dataset(directory=...)` on local files."
        ) from None
    texts, labels = [], []
    for text, label in tfds.as_numpy(dataset):
        texts.append(text.decode("utf-8", errors="replace"))
        labels.append(int(label))
    names = getattr(info.features["label"], "names", None)
    return texts, labels, names


def read_conll(path):
    """Sentences and tags from a CoNLL-style file: ``token<TAB>tag`` lines, blank line between
    sentences (``-DOCSTART-`` lines are ignored).

    Returns:
        ``(sentences, tags, lines, report)``: word lists, tag lists, the line number of each
        sentence's first word, and a `TextReport`.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"File not found. Received: path={path!r}.")
    report = TextReport(source=path)
    with open(path, "rb") as file:
        data = file.read()
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError:
        content = data.decode("utf-8", errors="replace")
        report.note("invalid UTF-8 bytes decoded with replacement characters (U+FFFD)")
    sentences, tags, lines = [], [], []
    words, word_tags, start = [], [], None
    for number, line in enumerate(content.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("-DOCSTART-"):
            if words:
                sentences.append(words)
                tags.append(word_tags)
                lines.append(start)
            words, word_tags, start = [], [], None
            continue
        parts = stripped.split("\t") if "\t" in stripped else stripped.split()
        if len(parts) < 2:
            raise ValueError(
                f"{path}:{number}: expected 'token<TAB>tag', got {line!r}. Fix the line or remove "
                "it (a blank line separates sentences)."
            )
        words.append(parts[0])
        word_tags.append(parts[-1])
        start = start or number
    if words:
        sentences.append(words)
        tags.append(word_tags)
        lines.append(start)
    return sentences, tags, lines, report


def _sorted_tags(tag_lists):
    names = sorted({tag for tags in tag_lists for tag in tags})
    entity_types = sorted({name[2:] for name in names if name[:2] in ("B-", "I-")})
    ordered = (["O"] if "O" in names else []) + [
        f"{prefix}-{kind}" for kind in entity_types for prefix in ("B", "I") if f"{prefix}-{kind}" in names
    ]
    return ordered + [name for name in names if name not in ordered]


def token_dataset(
    path=None,
    sentences=None,
    tags=None,
    tag_names=None,
    validation_split=None,
    subset=None,
    seed=1337,
    batch_size=32,
    shuffle=True,
    backbone=None,
    sequence_length=128,
    bucket_by_length=False,
    tokenize=False,
    max_examples=None,
    cache=True,
    verbose=True,
):
    """Make batched ``(ragged words, ragged tag ids)`` datasets for `build_token_classifier`.

    Give ``path`` (a CoNLL-style file, see `read_conll`) or ``sentences`` with ``tags`` (lists
    of word lists and tag lists). Tags outside ``tag_names`` and sentences whose tags do not
    match their words are errors naming the line/sentence. ``max_examples`` keeps a seeded
    random subset of sentences. With ``backbone`` given, sentences
    longer than ``sequence_length`` word pieces are split into consecutive windows, so no word
    is lost (counted in ``dataset.report``); without it, the model truncates such sentences.

    With ``backbone`` given, ``bucket_by_length=True`` batches sentences of similar word-piece
    length together (so dynamic padding pads little), and ``tokenize=True`` tokenizes and aligns
    every sentence once here instead of in every epoch: batches are then
    ``({"token_ids", "padding_mask", "segment_ids"}, piece labels)`` padded to their longest
    sentence, which models built with the same ``backbone`` and ``sequence_length`` take as
    they are.

    Returns:
        One `tf.data.Dataset`, or ``(train, validation)`` for ``subset="both"``; each carries
        ``tag_names`` (also as ``class_names``), ``report`` and ``num_examples``.

    Example:
    >>> import tl_suite
    >>> data = tl_suite.token_dataset(sentences=[["Paris", "is", "big"], ["Hi"]],
    ...                               tags=[["B-loc", "O", "O"], ["O"]], verbose=False)
    >>> data.tag_names
    ['O', 'B-loc']
    """
    if (path is None) == (sentences is None):
        raise ValueError(
            f"Give exactly one of `path` or `sentences` (with `tags`). Received: path={path!r}."
        )
    if path is not None:
        sentences, tags, lines, report = read_conll(path)
        where = [f"{path}:{line}" for line in lines]
    else:
        report = TextReport(source="sentences")
        if tags is None or len(tags) != len(sentences):
            raise ValueError(
                "`tags` must be given with `sentences`, one tag list per sentence. Received: "
                f"len(sentences)={len(sentences)}, len(tags)={None if tags is None else len(tags)}."
            )
        sentences = [s.split() if isinstance(s, str) else list(s) for s in sentences]
        tags = [list(t) for t in tags]
        where = [f"sentences[{i}]" for i in range(len(sentences))]
    for place, words, word_tags in zip(where, sentences, tags):
        if len(words) != len(word_tags):
            raise ValueError(
                f"{place}: {len(words)} words but {len(word_tags)} tags. Give one tag per word."
            )
    tag_names = list(tag_names) if tag_names is not None else _sorted_tags(tags)
    index = {name: i for i, name in enumerate(tag_names)}
    bad = [(place, tag) for place, word_tags in zip(where, tags) for tag in word_tags if tag not in index]
    if bad:
        shown = ", ".join(f"{p}: {t!r}" for p, t in bad[:5])
        raise ValueError(
            f"{len(bad)} tags are not in the tag set {tag_names}: {shown}. Fix those lines or "
            "add the tags to `tag_names`."
        )
    keep = [i for i, words in enumerate(sentences) if words]
    report.skipped.extend((where[i], "sentence with no words") for i in range(len(sentences)) if not sentences[i])
    if max_examples is not None and max_examples < len(keep):
        keep = sorted(np.random.default_rng(seed).choice(keep, max_examples, replace=False).tolist())
        report.note(f"sentences left out by max_examples={max_examples}", len(sentences) - max_examples)
    sentences = [sentences[i] for i in keep]
    tag_ids = [[index[t] for t in tags[i]] for i in keep]
    report.used = len(sentences)
    if (bucket_by_length or tokenize) and backbone is None:
        raise ValueError(
            "bucket_by_length=True and tokenize=True need `backbone` (whose tokenizer measures "
            "and splits the words), e.g. backbone='minilm_l6'."
        )
    parts = _split(len(sentences), validation_split, subset, seed)
    preprocessor = tokenized = None
    if backbone is not None:
        from tl_suite.text_models import TokenClassifierPreprocessor

        spec = backbones.get_text_backbone(backbone)
        preprocessor = TokenClassifierPreprocessor(spec.tokenizer(), sequence_length=sequence_length)
        if tokenize:
            tokenized = _tokenized_info(spec, sequence_length, preprocessor.tokenizer)
    if verbose:
        print(report)

    def make(indices, training):
        chosen_words = [sentences[i] for i in indices]
        chosen_tags = [tag_ids[i] for i in indices]
        if preprocessor is not None:
            from tl_suite.text_models import word_windows

            windows, owners = word_windows(preprocessor, chosen_words)
            if len(windows) > len(chosen_words):
                report.note(
                    f"windows added by splitting sentences longer than sequence_length="
                    f"{sequence_length} word pieces (no word lost)", len(windows) - len(chosen_words),
                )
            offsets, window_tags = {}, []
            for owner, window in zip(owners, windows):
                start = offsets.get(owner, 0)
                window_tags.append(chosen_tags[owner][start:start + len(window)])
                offsets[owner] = start + len(window)
            chosen_words, chosen_tags = windows, window_tags
        words = tf.ragged.constant(chosen_words, dtype=tf.string, ragged_rank=1)
        word_tags = tf.ragged.constant(chosen_tags, dtype=tf.int32, ragged_rank=1)
        if tokenize:
            rows, labels = _pretokenize(
                lambda w, t: preprocessor.align(w, t)[::2], [words, word_tags])
            dataset = _row_dataset((rows, labels))
        else:
            dataset = _row_dataset((words, word_tags))
        if cache:
            dataset = dataset.cache()
        shuffled = training and shuffle
        if shuffled:
            dataset = dataset.shuffle(len(chosen_words), seed=seed, reshuffle_each_iteration=True)
        boundaries = _bucket_boundaries(sequence_length) if bucket_by_length else None
        if tokenize:
            dataset = _tokenized_batches(dataset, batch_size, preprocessor.tokenizer.pad_token_id,
                                         -1, boundaries)
        elif bucket_by_length:
            counts = preprocessor.piece_counts([w for sentence in chosen_words for w in sentence])
            starts = np.cumsum([0] + [len(sentence) for sentence in chosen_words[:-1]])
            pieces = (np.add.reduceat(counts, starts) + 2).astype("int32")  # + [CLS], [SEP]
            dataset = tf.data.Dataset.zip(dataset, tf.data.Dataset.from_tensor_slices(pieces))
            dataset = dataset.bucket_by_sequence_length(
                lambda pair, length: length, boundaries, [batch_size] * (len(boundaries) + 1),
                padding_values=((tf.constant(""), tf.constant(-1)), tf.constant(0)),
            ).map(lambda pair, length: pair)  # words padded with "" (dropped by the model)
        else:
            dataset = dataset.ragged_batch(batch_size)
        dataset = dataset.prefetch(_AUTOTUNE)
        dataset.tag_names = dataset.class_names = tag_names
        dataset.report = report
        dataset.num_examples = len(chosen_words)
        dataset.shuffled = shuffled
        dataset.augmented = False
        dataset.tokenized = tokenized
        return dataset

    return _finish(parts, make, subset)
