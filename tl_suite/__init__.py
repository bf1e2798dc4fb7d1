"""tl_suite: transfer learning for Keras 3 that works offline out of the box.

Public API (everything else is private):

- Backbones: `list_backbones`, `get_backbone`, `register_backbone`, `BackboneSpec`,
  `TextBackboneSpec`
- Models (one contract, `TransferModel`): `build_image_classifier`, `build_text_classifier`,
  `build_text_regressor`, `build_token_classifier`, `predict`, `predict_tags`, `load_model`
- Data: `image_dataset`, `text_dataset`, `token_dataset`, `read_conll`, `DatasetInfo`,
  `dataset_info`, `with_info`; offline data `load_fashion_mnist`, `bbc_news_path`, `twitter_ner_path`,
  `load_spam_assassin`, `load_movie_reviews`
- Training: `fit`, `evaluate`, `calibrate`, `run_baseline`; errors `NonFiniteLossError`, `DiskFullError`, `RunLockedError`
- Fine-tuning: `freeze`, `unfreeze`, `recompile`, `layer_groups`, `fine_tune`,
  `find_learning_rate`, `LearningRateSweep`, `DiscriminativeAdam`, `OneCycle`, `warmup_cosine`;
  LoRA adapters: `save_adapter`, `load_adapter`, `merge_lora`
- Inspection and explanations: `show_batch`, `show_results`, `top_losses`, `plot_top_losses`,
  `most_confused`, `explain` (Grad-CAM, integrated gradients)
- Shipping: `export` (SavedModel with preprocessing and labels inside, TFLite, model card)
- Distribution: `get_strategy`, `set_mixed_precision`

Importing tl_suite registers its model classes with Keras, so `keras.saving.load_model` can
rebuild saved tl_suite models (or use `tl_suite.load_model`).
"""

# First, before anything imports TensorFlow: its C++ start-up lines silenced (tl_suite/quiet.py).
import tl_suite.quiet  # noqa: F401  isort: skip

from tl_suite.backbones.registry import get_backbone, list_backbones, register_backbone
from tl_suite.backbones.spec import BackboneSpec
from tl_suite.backbones.text import TextBackboneSpec
from tl_suite.data.corpora import load_movie_reviews, load_spam_assassin
from tl_suite.data.images import image_dataset
from tl_suite.data.info import DatasetInfo, dataset_info, with_info
from tl_suite.data.sources import bbc_news_path, load_fashion_mnist, twitter_ner_path
from tl_suite.data.texts import text_dataset
from tl_suite.data.tokens import read_conll, token_dataset
from tl_suite.explain.explain import explain
from tl_suite.export.export import export
from tl_suite.fine_tuning.fine_tune import fine_tune
from tl_suite.fine_tuning.freezing import freeze, layer_groups, recompile, unfreeze
from tl_suite.fine_tuning.lora import load_adapter, merge_lora, save_adapter
from tl_suite.fine_tuning.lr_finder import LearningRateSweep, find_learning_rate
from tl_suite.fine_tuning.optimizers import DiscriminativeAdam
from tl_suite.fine_tuning.schedules import OneCycle, warmup_cosine
from tl_suite.inspection.most_confused import most_confused
from tl_suite.inspection.show_batch import show_batch
from tl_suite.inspection.show_results import show_results
from tl_suite.inspection.top_losses import plot_top_losses, top_losses
from tl_suite.models.image_model import build_image_classifier
from tl_suite.models.predict import predict, predict_tags
from tl_suite.models.saving import load_model
from tl_suite.models.task import TransferModel
from tl_suite.models.text_model import build_text_classifier, build_text_regressor
from tl_suite.models.token_model import build_token_classifier
from tl_suite.strategy import get_strategy, set_mixed_precision
from tl_suite.training.baselines import run_baseline
from tl_suite.training.calibrate import calibrate
from tl_suite.training.evaluate import evaluate
from tl_suite.training.fit import fit
from tl_suite.training.non_finite import NonFiniteLossError
from tl_suite.training.runs import RunLockedError
from tl_suite.training.safe_files import DiskFullError

__version__ = "0.1.0"

__all__ = [
    "BackboneSpec",
    "DatasetInfo",
    "DiscriminativeAdam",
    "DiskFullError",
    "LearningRateSweep",
    "NonFiniteLossError",
    "OneCycle",
    "RunLockedError",
    "TextBackboneSpec",
    "TransferModel",
    "bbc_news_path",
    "build_image_classifier",
    "build_text_classifier",
    "build_text_regressor",
    "build_token_classifier",
    "calibrate",
    "dataset_info",
    "evaluate",
    "explain",
    "export",
    "find_learning_rate",
    "fine_tune",
    "fit",
    "freeze",
    "get_backbone",
    "get_strategy",
    "image_dataset",
    "layer_groups",
    "list_backbones",
    "load_adapter",
    "load_fashion_mnist",
    "load_model",
    "load_movie_reviews",
    "load_spam_assassin",
    "merge_lora",
    "most_confused",
    "plot_top_losses",
    "predict",
    "predict_tags",
    "read_conll",
    "recompile",
    "register_backbone",
    "run_baseline",
    "save_adapter",
    "set_mixed_precision",
    "show_batch",
    "show_results",
    "text_dataset",
    "token_dataset",
    "top_losses",
    "twitter_ner_path",
    "unfreeze",
    "warmup_cosine",
    "with_info",
]
