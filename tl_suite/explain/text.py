"""Word attributions of text classifiers: integrated gradients over the token embeddings and,
for models with a TF-IDF wide branch, over the TF-IDF vector too.

The path runs from a baseline text of ``[PAD]`` embeddings (``[CLS]`` and ``[SEP]`` kept) with
an all-zero TF-IDF vector to the text, both together, so the attributions of the word pieces
and of the TF-IDF terms add up to the change of the explained class's log-probability. Pieces
are summed into their words; each term's share goes to the words that make it.
"""

import numpy as np
import tensorflow as tf

from tl_suite.explain.embeddings import (check_embedding_model, embedding_ends,
                                         logits_from_embeddings)
from tl_suite.explain.figures import attributions_figure
from tl_suite.explain.integrated_gradients import integrated_gradients
from tl_suite.explain.scores import log_probabilities, logits_function
from tl_suite.explain.words import piece_counts, pieces_to_words, terms_to_words


def _path_ends(model, x):
    """``(inputs, baselines)`` of the path: token embeddings (and the TF-IDF vector)."""
    embeddings, baseline = embedding_ends(model, x["token_ids"])
    inputs, baselines = [embeddings], [baseline]
    if model.wide_tokens:
        inputs.append(np.asarray(x["tf_idf"])[0])
        baselines.append(np.zeros_like(inputs[-1]))
    return inputs, baselines


def _scorer(model, x, forward, target):
    """``score(points)``: the log-probability of ``target`` at points of the path."""
    others = {name: value for name, value in x.items() if name not in ("token_ids", "tf_idf")}

    def score(points):
        count = tf.shape(points[0])[0]
        batch = {name: tf.repeat(value, count, axis=0) for name, value in others.items()}
        if model.wide_tokens:
            batch["tf_idf"] = points[1]
        return log_probabilities(model, forward(points[0], batch))[:, target]

    return score


def _word_parts(model, text, attributions):
    """Per word: the encoder's share (its pieces) and the TF-IDF branch's (its terms)."""
    words = text.split()
    counts = piece_counts(model.preprocessor.tokenizer, words)
    encoder = pieces_to_words(attributions[0].sum(axis=-1), counts)
    terms = []
    tf_idf = np.zeros(len(words))
    if model.wide_tokens:
        vectorizer = model.preprocessor.tf_idf
        tf_idf, terms = terms_to_words(words, vectorizer.vocabulary, attributions[1], vectorizer.ngrams)
    read = int(np.searchsorted(np.cumsum(counts), len(attributions[0]) - 2, side="right"))
    return words, encoder, tf_idf, terms, len(words) - read


def explain_text(model, text, forward, target=None, steps=50, max_words=300):
    """Integrated-gradients word attributions of one text (see `explain`); ``forward`` is
    `logits_from_embeddings` of the model."""
    x = model.prepare(np.asarray([text]))[0]
    inputs, baselines = _path_ends(model, x)
    probabilities = np.exp(np.asarray(_scorer(model, x, forward, slice(None))(
        [tf.constant(value[np.newaxis]) for value in inputs])))[0]
    explained = int(probabilities.argmax()) if target is None else target
    attributions, scores = integrated_gradients(_scorer(model, x, forward, explained), inputs,
                                                baselines, steps=steps)
    words, encoder, tf_idf, terms, truncated = _word_parts(model, text, attributions)
    names = model.label_names or [str(i) for i in range(model.num_outputs)]
    total = encoder + tf_idf
    return {
        "input": text, "label": names[explained], "probability": float(probabilities[explained]),
        "predicted": names[int(probabilities.argmax())], "words": words, "attributions": total,
        "encoder_attributions": encoder, "tf_idf_attributions": tf_idf, "terms": terms,
        "truncated_words": truncated, **scores,
        "figure": attributions_figure(
            words, total, f"{names[explained]} {probabilities[explained]:.2f}: red for, blue "
            f"against ({'encoder + TF-IDF' if model.wide_tokens else 'encoder'})", max_words),
    }


def explain_texts(model, texts, target=None, steps=50, max_words=300):
    """`explain_text` of each text of ``texts`` (a string or a list of strings)."""
    check_embedding_model(model)
    batch = model.preprocessor.coerce(texts)
    if isinstance(batch, tuple):
        raise ValueError(
            "Word attributions take single texts, not text pairs. Pass strings. "
            f"Received: texts={texts!r:.80}."
        )
    forward = logits_from_embeddings(model, logits_function(model.head))
    return [explain_text(model, str(text), forward, target, steps, max_words) for text in batch]
