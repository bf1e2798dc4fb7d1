"""Backbones: the registry and the specs that own weights, preprocessing and layer groups.

Importing this package registers the built-in image backbones (`tl_suite.backbones.image`).
"""

from tl_suite.backbones import image  # noqa: F401  (registers the built-in image specs)
from tl_suite.backbones.registry import (
    build_base,
    get_backbone,
    get_image_backbone,
    get_text_backbone,
    list_backbones,
    register_backbone,
)
from tl_suite.backbones.spec import BackboneSpec
from tl_suite.backbones.text import TextBackboneSpec

__all__ = [
    "BackboneSpec", "TextBackboneSpec", "build_base", "get_backbone", "get_image_backbone",
    "get_text_backbone", "list_backbones", "register_backbone",
]
