"""Entity attributions of taggers: integrated gradients of each predicted entity.

For each entity the tagger predicts (decoded as `predict_tags` does), the score is the sum of
the log-probabilities of its words' predicted tags; its integrated gradients over the token
embeddings (baseline: ``[PAD]`` embeddings, ``[CLS]``/``[SEP]`` kept), summed per word, say
which words of the sentence made the model see that entity.
"""

import numpy as np
import tensorflow as tf
from seqeval.metrics.sequence_labeling import get_entities

from tl_suite.explain.embeddings import (check_embedding_model, embedding_ends,
                                         logits_from_embeddings)
from tl_suite.explain.figures import entities_figure
from tl_suite.explain.integrated_gradients import integrated_gradients
from tl_suite.explain.scores import log_probabilities, logits_function
from tl_suite.explain.words import pieces_to_words
from tl_suite.models.decoding import decode_tags


def _tag_scorer(model, forward, others):
    """``log_p(points) -> (n, positions, tags)`` log-probabilities at points of the path."""

    def log_p(points):
        count = tf.shape(points[0])[0]
        batch = {name: tf.repeat(value, count, axis=0) for name, value in others.items()}
        return log_probabilities(model, forward(points[0], batch))

    return log_p


def _entity(model, log_p, ends, span, tags, counts, steps):
    """Integrated gradients of one entity ``span`` (``(type, first word, last word)``, positions
    of the words' first pieces in ``span[3]``)."""
    kind, start, last, positions = span
    tag_ids = [model.tag_names.index(tag) for tag in tags[start:last + 1]]

    def score(points):
        values = log_p(points)
        return tf.add_n([values[:, position, tag] for position, tag in zip(positions, tag_ids)])

    attributions, scores = integrated_gradients(score, *ends, steps=steps)
    return {"type": kind, "start": start, "end": last + 1, "probability": float(np.exp(scores["score"])),
            "attributions": pieces_to_words(attributions[0].sum(axis=-1), counts), **scores}


def explain_sentence(model, words, forward, steps=50, decoding="constrained"):
    """Per predicted entity of one sentence (a list of words), its word attributions;
    ``forward`` is `logits_from_embeddings` of the model."""
    x, word_ids, _ = model.preprocessor.align(tf.ragged.constant([words], dtype=tf.string, ragged_rank=1))
    first = np.flatnonzero(np.asarray(word_ids)[0] >= 0)
    kept = list(words[:len(first)])
    log_p = _tag_scorer(model, forward, {k: v for k, v in x.items() if k != "token_ids"})
    embeddings, baseline = embedding_ends(model, x["token_ids"])
    ends = ([embeddings], [baseline])
    word_log_p = np.asarray(log_p([tf.constant(ends[0][0][np.newaxis])]))[0][first]
    tags = decode_tags(np.exp(word_log_p), model.tag_names, decoding)
    counts = model.preprocessor.piece_counts(kept)
    entities = []
    for kind, start, last in get_entities(tags):
        span = (kind, start, last, first[start:last + 1])
        entity = _entity(model, log_p, ends, span, tags, counts, steps)
        entities.append({**entity, "text": " ".join(kept[start:last + 1])})
    return {"input": " ".join(words), "words": kept, "tags": tags, "entities": entities,
            "truncated_words": len(words) - len(kept),
            "figure": entities_figure(kept, tags, entities, "Entities and the words behind them "
                                      "(red: for the entity, blue: against)")}


def explain_sentences(model, sentences, steps=50, decoding="constrained"):
    """`explain_sentence` of each sentence (strings split on whitespace, or word lists)."""
    check_embedding_model(model)
    sentences = [sentences] if isinstance(sentences, str) else list(sentences)
    forward = logits_from_embeddings(model, logits_function(model.head))
    return [explain_sentence(model, s.split() if isinstance(s, str) else list(s), forward, steps,
                             decoding) for s in sentences]
