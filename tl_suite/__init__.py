"""tl_suite: transfer learning for Keras 3 that works offline out of the box.

Public API (everything else is private):

- Backbones: `list_backbones`, `get_backbone`
- Models: `build_image_classifier`, `build_text_classifier`, `build_text_regressor`,
  `build_token_classifier`, `predict_tags`, `unfreeze`
- Data: `image_dataset`, `text_dataset`, `token_dataset`, `load_fashion_mnist`
- Training: `fit`, `evaluate`
- Fine-tuning: `fine_tune`, `find_learning_rate`, `layer_groups`, `DiscriminativeAdam`,
  `OneCycle`, `warmup_cosine`; LoRA adapters: `save_adapter`, `load_adapter`, `merge_lora`
- Distribution: `get_strategy`, `set_mixed_precision`
"""

from tl_suite.backbones import BackboneSpec, get_backbone, list_backbones, register_backbone
from tl_suite.datasets import bbc_news_path, load_fashion_mnist, twitter_ner_path
from tl_suite.images import image_dataset
from tl_suite.models import build_image_classifier, unfreeze
from tl_suite.fine_tuning import (
    LearningRateSweep,
    find_learning_rate,
    fine_tune,
    load_adapter,
    merge_lora,
    save_adapter,
)
from tl_suite.schedules import DiscriminativeAdam, OneCycle, layer_groups, warmup_cosine
from tl_suite.strategy import get_strategy, set_mixed_precision
from tl_suite.text_models import (
    build_text_classifier,
    build_text_regressor,
    build_token_classifier,
    predict_tags,
)
from tl_suite.text_data import text_dataset, token_dataset
from tl_suite.training import evaluate, fit

__version__ = "0.1.0"

__all__ = [
    "BackboneSpec",
    "DiscriminativeAdam",
    "LearningRateSweep",
    "OneCycle",
    "bbc_news_path",
    "build_image_classifier",
    "build_text_classifier",
    "build_text_regressor",
    "build_token_classifier",
    "evaluate",
    "find_learning_rate",
    "fine_tune",
    "fit",
    "get_backbone",
    "get_strategy",
    "image_dataset",
    "layer_groups",
    "list_backbones",
    "load_adapter",
    "load_fashion_mnist",
    "merge_lora",
    "predict_tags",
    "register_backbone",
    "save_adapter",
    "set_mixed_precision",
    "text_dataset",
    "token_dataset",
    "twitter_ner_path",
    "unfreeze",
    "warmup_cosine",
]
