"""`token_dataset` and `read_conll`: word-level tagging (NER) data as tf.data pipelines.

Batches are ``(ragged words, ragged tag ids)``; the token classifier's preprocessor puts each
word's tag on its first word piece. The pipeline runs as named steps, each usable alone:
`read_sentences` -> `check_sentences` -> `encode_tags` -> `split_indices` -> `window_sentences`
-> `token_pipeline`.
"""

import collections
import os

import numpy as np
import tensorflow as tf

from tl_suite.backbones.registry import get_text_backbone
from tl_suite.data.info import DatasetInfo
from tl_suite.data.labels import encode_tags, flag_rare_tags
from tl_suite.data.pipeline import cache_and_shuffle, check_one_source, finish
from tl_suite.data.report import DataReport
from tl_suite.data.split import check_split, sample_indices, select_subset, split_indices
from tl_suite.data.text_files import check_encoding, read_text_file
from tl_suite.data.tokenized import (
    bucketed_batches,
    padded_batches,
    pretokenize,
    row_dataset,
    tokenized_info,
)
from tl_suite.preprocessing.tokens import TokenClassifierPreprocessor, word_windows
from tl_suite.validation import check_integer


def _conll_columns(line):
    """The columns of one CoNLL line: tab-separated if it has a tab, else whitespace-separated;
    None for a sentence break (blank or ``-DOCSTART-`` line)."""
    stripped = line.rstrip()
    if not stripped.strip() or stripped.strip().startswith("-DOCSTART-"):
        return None
    if "\t" in stripped:
        return [part.strip() for part in stripped.split("\t")]
    return stripped.split()


def _malformed(columns, expected):
    """Why a line's ``columns`` are not a ``token ... tag`` line (None if they are)."""
    if len(columns) < 2:
        return "expected 'token<TAB>tag', got one column"
    if not columns[0]:
        return "empty token"
    if not columns[-1]:
        return "empty tag"
    if len(columns) != expected:
        return f"{len(columns)} columns where the file's lines have {expected}"
    if "" in columns:
        return "empty column"
    return None


def _sentence_rows(text):
    """``(line number, line, columns)`` of each line, with a final sentence break, and the
    usual number of columns of the file's token lines."""
    rows = [(number, line, _conll_columns(line))
            for number, line in enumerate(text.splitlines() + [""], start=1)]
    widths = collections.Counter(len(columns) for _, _, columns in rows if columns and len(columns) > 1)
    return rows, (widths.most_common(1)[0][0] if widths else 2)


def _drop_sentence(report, path, start, bad):
    number, line, why = bad[0]
    more = f" (and {len(bad) - 1} more malformed lines)" if len(bad) > 1 else ""
    report.skip(f"{path}:{number}", f"malformed line {line.strip()!r}: {why}{more}; its sentence "
                                    f"(from line {start}) is left out")


def read_conll(path, encoding="utf-8", encoding_errors="strict"):
    """Sentences and tags from a CoNLL-style file: ``token<TAB>tag`` lines (or ``token ...
    tag`` columns: the first is the word, the last the tag), blank line between sentences
    (``-DOCSTART-`` lines are ignored).

    A malformed line (one column, an empty token or tag, another number of columns than the
    file's other lines) is listed in the report and the sentence it belongs to is left out;
    reading goes on. A binary file, or one that does not decode with ``encoding`` (and
    ``encoding_errors="strict"``), is an error naming the byte and the fix (e.g.
    ``encoding="latin-1"`` or ``encoding_errors="replace"``).

    Returns:
        ``(sentences, tags, lines, report)``: word lists, tag lists, the line number of each
        sentence's first word, and a `DataReport`.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"File not found. Received: path={path!r}.")
    check_encoding(encoding, encoding_errors)
    report = DataReport(source=path, unit="sentences")
    rows, expected = _sentence_rows(read_text_file(path, report, encoding, encoding_errors))
    sentences, tags, lines = [], [], []
    current, bad, start = [], [], None  # words, malformed lines and first line of this sentence
    for number, line, columns in rows:
        if columns is not None:
            start = start or number
            why = _malformed(columns, expected)
            if why:
                bad.append((number, line, why))
            else:
                current.append((columns[0], columns[-1]))
            continue
        if bad:
            _drop_sentence(report, path, start, bad)
        elif current:
            lines.append(start)
            sentences.append([word for word, _ in current])
            tags.append([tag for _, tag in current])
        current, bad, start = [], [], None
    return sentences, tags, lines, report


def read_sentences(path=None, sentences=None, tags=None, encoding="utf-8", encoding_errors="strict"):
    """The read step of `token_dataset`: a CoNLL file or in-memory lists -> ``(sentences,
    tags, where, report)``; a sentence given as a string is split on whitespace."""
    if path is not None:
        sentences, tags, lines, report = read_conll(path, encoding, encoding_errors)
        return sentences, tags, [f"{path}:{line}" for line in lines], report
    if tags is None or len(tags) != len(sentences):
        raise ValueError(
            "`tags` must be given with `sentences`, one tag list per sentence. Received: "
            f"len(sentences)={len(sentences)}, len(tags)={None if tags is None else len(tags)}."
        )
    sentences = [s.split() if isinstance(s, str) else list(s) for s in sentences]
    where = [f"sentences[{i}]" for i in range(len(sentences))]
    return sentences, [list(t) for t in tags], where, DataReport(source="sentences", unit="sentences")


def check_sentences(sentences, tags, where, report):
    """The check step: one tag per word (else an error naming the sentence); sentences with
    no words are skipped in ``report``. Returns the indices of the sentences kept."""
    for place, words, word_tags in zip(where, sentences, tags):
        if len(words) != len(word_tags):
            raise ValueError(
                f"{place}: {len(words)} words but {len(word_tags)} tags. Give one tag per word."
            )
    for place, words in zip(where, sentences):
        if not words:
            report.skip(place, "sentence with no words")
    keep = np.asarray([i for i, words in enumerate(sentences) if words], dtype=int)
    if not keep.size:
        raise ValueError(f"No usable sentence in {report.source}.\n{report}")
    return keep


def window_sentences(preprocessor, sentences, tag_ids, report):
    """Split sentences longer than the preprocessor's ``sequence_length`` word pieces into
    consecutive windows (no word lost; counted in ``report``). Returns ``(words, tag ids)``."""
    windows, owners = word_windows(preprocessor, sentences)
    report.note(
        f"windows added by splitting sentences longer than sequence_length="
        f"{preprocessor.sequence_length} word pieces (no word lost)", len(windows) - len(sentences),
    )
    offsets, window_tags = {}, []
    for owner, window in zip(owners, windows):
        start = offsets.get(owner, 0)
        window_tags.append(tag_ids[owner][start:start + len(window)])
        offsets[owner] = start + len(window)
    return windows, window_tags


def _bucket_raw_words(dataset, preprocessor, sentences, batch_size):
    counts = preprocessor.piece_counts([word for sentence in sentences for word in sentence])
    starts = np.cumsum([0] + [len(sentence) for sentence in sentences[:-1]])
    pieces = (np.add.reduceat(counts, starts) + 2).astype("int32")  # + [CLS], [SEP]
    dataset = tf.data.Dataset.zip(dataset, tf.data.Dataset.from_tensor_slices(pieces))
    return bucketed_batches(
        dataset, lambda pair, length: length, preprocessor.sequence_length, batch_size,
        padding_values=((tf.constant(""), tf.constant(-1)), tf.constant(0)),
    ).map(lambda pair, length: pair)  # words padded with "" (dropped by the model)


def token_pipeline(sentences, tag_ids, training, preprocessor=None, tokenize=False,
                   bucket_by_length=False, batch_size=32, cache=True, shuffle=True, seed=1337):
    """The pipeline step of `token_dataset`: word lists and tag-id lists -> batched tf.data.

    Without ``tokenize``, batches are ``(ragged words, ragged tag ids)``; with it (needs
    ``preprocessor``), ``(token-id dict, piece labels)`` padded per batch (label -1).
    ``bucket_by_length`` batches sentences of similar word-piece length together.
    """
    words = tf.ragged.constant(sentences, dtype=tf.string, ragged_rank=1)
    word_tags = tf.ragged.constant(tag_ids, dtype=tf.int32, ragged_rank=1)
    if tokenize:
        rows, labels = pretokenize(lambda w, t: preprocessor.align(w, t)[::2], [words, word_tags])
        dataset = row_dataset((rows, labels))
    else:
        dataset = row_dataset((words, word_tags))
    dataset = cache_and_shuffle(dataset, cache, training and shuffle, len(sentences), seed)
    if tokenize:
        return padded_batches(dataset, batch_size, preprocessor.tokenizer.pad_token_id, -1,
                              preprocessor.sequence_length if bucket_by_length else None)
    if bucket_by_length:
        return _bucket_raw_words(dataset, preprocessor, sentences, batch_size)
    return dataset.ragged_batch(batch_size)


def _check_arguments(batch_size, validation_split, subset, backbone, bucket_by_length, tokenize):
    check_split(validation_split, subset)
    check_integer("batch_size", batch_size)
    if (bucket_by_length or tokenize) and backbone is None:
        raise ValueError(
            "bucket_by_length=True and tokenize=True need `backbone` (whose tokenizer measures "
            "and splits the words), e.g. backbone='minilm_l6'. Received: backbone=None."
        )


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
    encoding="utf-8",
    encoding_errors="strict",
):
    """Make batched ``(ragged words, ragged tag ids)`` datasets for `build_token_classifier`.

    Give ``path`` (a CoNLL-style file, see `read_conll`) or ``sentences`` with ``tags`` (lists
    of word lists and tag lists). Tags outside ``tag_names`` and sentences whose tags do not
    match their words are errors naming the line/sentence. Malformed lines of a file are
    listed in the report and their sentence left out. The file is read with ``encoding``; one
    that does not decode is an error unless ``encoding_errors="replace"`` (the file is then
    named in ``report.flagged``); a binary file is an error. Without ``tag_names``, a tag seen
    fewer than 3 times (and much rarer than the others) is flagged in the report and warned
    about as a likely typo (kept: correct it, or pass ``tag_names`` to refuse unknown tags).
    ``max_examples`` keeps a seeded
    random subset of sentences. With ``backbone`` given, sentences
    longer than ``sequence_length`` word pieces are split into consecutive windows, so no word
    is lost (counted in the report); without it, the model truncates such sentences.

    With ``backbone`` given, ``bucket_by_length=True`` batches sentences of similar word-piece
    length together (so dynamic padding pads little), and ``tokenize=True`` tokenizes and aligns
    every sentence once here instead of in every epoch: batches are then
    ``({"token_ids", "padding_mask", "segment_ids"}, piece labels)`` padded to their longest
    sentence, which models built with the same ``backbone`` and ``sequence_length`` take as
    they are.

    Returns:
        One `tf.data.Dataset`, or ``(train, validation)`` for ``subset="both"``; each carries a
        `DatasetInfo` (``dataset.info``, kind ``"tokens"``) with the tag names (shortcuts
        ``tag_names`` and ``class_names``), ``report`` and ``num_examples`` (windows).

    Example:
    >>> import tl_suite
    >>> data = tl_suite.token_dataset(sentences=[["Paris", "is", "big"], ["Hi"]],
    ...                               tags=[["B-loc", "O", "O"], ["O"]], verbose=False)
    >>> data.tag_names, data.info.num_examples
    (['O', 'B-loc'], 2)
    """
    check_one_source("`path` or `sentences` (with `tags`)", path=path, sentences=sentences)
    _check_arguments(batch_size, validation_split, subset, backbone, bucket_by_length, tokenize)
    check_encoding(encoding, encoding_errors)
    sentences, tags, where, report = read_sentences(path, sentences, tags, encoding, encoding_errors)
    keep = check_sentences(sentences, tags, where, report)
    inferred = tag_names is None
    tag_ids, tag_names = encode_tags(tags, where, tag_names)
    if inferred:
        flag_rare_tags(tag_ids, tag_names, where, report)
    chosen = sample_indices(len(keep), max_examples, seed)
    report.note(f"sentences left out by max_examples={max_examples}", len(keep) - len(chosen))
    keep = keep[chosen]
    sentences, tag_ids = [sentences[i] for i in keep], [tag_ids[i] for i in keep]
    report.used = len(sentences)
    preprocessor = tokenized = None
    if backbone is not None:
        spec = get_text_backbone(backbone)
        preprocessor = TokenClassifierPreprocessor(spec.tokenizer(), sequence_length=sequence_length)
        if tokenize:
            tokenized = tokenized_info(spec.name, sequence_length, preprocessor.tokenizer)
    if verbose:
        print(report)
    info = DatasetInfo(kind="tokens", class_names=tag_names, label_mode="tags", tokenized=tokenized,
                       report=report)

    def make(indices, training):
        words, ids = [sentences[i] for i in indices], [tag_ids[i] for i in indices]
        if preprocessor is not None:
            words, ids = window_sentences(preprocessor, words, ids, report)
        dataset = token_pipeline(words, ids, training, preprocessor, tokenize, bucket_by_length,
                                 batch_size, cache, shuffle, seed)
        return finish(dataset, info.replace(num_examples=len(words), shuffled=bool(training and shuffle)))

    return select_subset(split_indices(len(sentences), validation_split, subset, seed), make, subset,
                         validation_split, seed)
