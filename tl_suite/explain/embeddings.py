"""A BERT-family text model run from its token embeddings, so that gradients can reach them.

keras-hub's BERT backbones (MiniLM included) embed ``token_ids`` with their ``token_embedding``
layer, then add position and segment embeddings. The part from that layer's output on is cut
out as its own functional model (Keras builds a model from an intermediate tensor by copying
the graph from there); pooling, the wide TF-IDF branch and the head follow as in the model.
"""

import keras
import numpy as np

_POOL_INPUT = {"mean": "sequence_output", "cls": "sequence_output", "pooler": "pooled_output"}


def check_embedding_model(model):
    """Refuse text models whose token embeddings cannot be reached (not keras-hub BERT-family,
    or long texts read as several windows)."""
    if not hasattr(model.backbone, "token_embedding"):
        raise ValueError(
            "Word attributions need a keras-hub BERT-family backbone (a `token_embedding` layer). "
            f"Received: a model whose backbone is {type(model.backbone).__name__}."
        )
    if model.max_windows > 1:
        raise ValueError(
            "Word attributions follow one window of tokens through the encoder; this model reads "
            "long texts as several windows, which they do not cover yet. Explain a model built "
            f"with max_windows=1. Received: a model with max_windows={model.max_windows}."
        )


def encoder_from_embeddings(backbone):
    """``(encoder, names)``: ``encoder([token embeddings, *other inputs])`` gives the backbone's
    outputs; ``names`` are the other inputs' names (e.g. ``segment_ids``, ``padding_mask``)."""
    names = [name for name in backbone.input if name != "token_ids"]
    inputs = [backbone.token_embedding.output] + [backbone.input[name] for name in names]
    return keras.Model(inputs, backbone.output, name="encoder_from_embeddings"), names


def _pooled(model, outputs, x):
    pool = model.get_layer("encoder_pool" if model.wide_tokens else "pool")
    source = outputs[_POOL_INPUT[model.pooling]]
    features = pool(source, x["padding_mask"]) if model.pooling == "mean" else pool(source)
    if model.wide_tokens:
        features = keras.ops.concatenate([features, x["tf_idf"]], axis=-1)
    return features


def logits_from_embeddings(model, logits):
    """``forward(embeddings, x) -> logits`` of ``model`` (a text model or tagger): the
    backbone from ``embeddings`` (the token embeddings of ``x["token_ids"]``, or any point on
    a path to them), ``x``'s other inputs (``x["tf_idf"]`` may be a path too), then ``logits``
    (`logits_function` of the head)."""
    encoder, names = encoder_from_embeddings(model.backbone)

    def forward(embeddings, x):
        outputs = encoder([embeddings] + [x[name] for name in names], training=False)
        if model.task == "token_classification":
            return logits(outputs["sequence_output"])
        return logits(_pooled(model, outputs, x))

    return forward


def embedding_ends(model, token_ids):
    """``(embeddings, baseline)`` of one sequence ``token_ids`` (shape ``(1, length)``): its
    token embeddings, and those of the same sequence with every word piece replaced by
    ``[PAD]`` (``[CLS]`` and ``[SEP]`` kept), the start of an integrated-gradients path."""
    tokenizer, embed = model.preprocessor.tokenizer, model.backbone.token_embedding
    token_ids = np.asarray(token_ids)
    special = [tokenizer.start_token_id, tokenizer.end_token_id]
    baseline_ids = np.where(np.isin(token_ids, special), token_ids, tokenizer.pad_token_id)
    return np.asarray(embed(token_ids))[0], np.asarray(embed(baseline_ids))[0]
