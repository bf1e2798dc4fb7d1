"""Deployable exports of tl_suite models: `export` (SavedModel with preprocessing and labels
inside, or TFLite) and the ``MODEL_CARD.md`` written beside them."""

from tl_suite.export.export import export
from tl_suite.export.model_card import model_card, write_model_card
from tl_suite.export.saved_model import export_saved_model

__all__ = ["export", "export_saved_model", "model_card", "write_model_card"]
