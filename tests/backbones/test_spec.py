"""Bring your own backbone: a `BackboneSpec` owns its preprocessing and its layer groups."""

import dataclasses

import keras
import numpy as np
import pytest

import tl_suite
from tl_suite.backbones import registry
from tl_suite.backbones.spec import BackboneSpec, group_by_block_number, group_by_prefix
from tl_suite.backbones.text import tiny_bert_spec


def _tiny_base(weights, input_shape):
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(4, 3, name="early_conv")(inputs)
    x = keras.layers.ReLU(name="early_relu")(x)  # no weights: in no group
    x = keras.layers.Conv2D(4, 3, name="early_conv2")(x)
    x = keras.layers.Conv2D(6, 3, name="late_conv")(x)
    base = keras.Model(inputs, keras.layers.Conv2D(8, 1, name="final_conv")(x))
    if weights is not None:
        base.load_weights(weights)
    return base


def _group_by_depth(layer_name):
    return {"early": "stem", "late": "middle", "final": "top"}[layer_name.split("_")[0]]


@pytest.fixture
def my_spec(monkeypatch):
    # A copy of the registry for this test: the spec is gone afterwards.
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    return tl_suite.register_backbone(BackboneSpec(
        name="my_test_net", input_size=(12, 10), feature_dim=8, description="a tiny test net",
        weights_source="none", make_base=_tiny_base, scale=1 / 255, offset=[0.0, -0.5, -1.0],
        group_of=_group_by_depth, test_only=True,
    ))


def test_registered_spec_is_listed_and_resolved(my_spec):
    assert tl_suite.get_backbone("my_test_net") is my_spec
    assert "my_test_net" in tl_suite.list_backbones("image", include_test_only=True)
    assert "my_test_net" not in tl_suite.list_backbones()  # test_only


def test_register_replaces_a_spec_of_the_same_name(my_spec):
    bigger = tl_suite.register_backbone(dataclasses.replace(my_spec, input_size=(20, 20)))
    assert tl_suite.get_backbone("my_test_net").input_size == (20, 20) and bigger is not my_spec


def test_registered_spec_is_gone_after_the_test_that_registered_it():
    assert "my_test_net" not in tl_suite.list_backbones(include_test_only=True)


def test_register_refuses_what_is_not_a_spec():
    with pytest.raises(ValueError, match="Received: spec='resnet50'"):
        tl_suite.register_backbone("resnet50")


def test_image_model_on_your_own_backbone(my_spec):
    model = tl_suite.build_image_classifier("my_test_net", class_names=["a", "b"], weights=None)
    assert model.backbone_name == "my_test_net" and tuple(model.input.shape) == (None, 12, 10, 3)
    assert model.layer_groups == [("stem", ["early_conv", "early_conv2"]),
                                  ("middle", ["late_conv"]), ("top", ["final_conv"])]
    gray_images = [np.zeros((30, 30), "uint8"), np.zeros((9, 40), "uint8")]
    assert model.predict(gray_images, verbose=0).shape == (2, 2)
    x, _ = model.prepare(np.full((1, 24, 20, 3), 255, "uint8"))  # x / 255 + offset
    np.testing.assert_allclose(np.asarray(x)[0, 0, 0], [1.0, 0.5, 0.0], atol=1e-6)
    assert model.features_model().output_shape == (None, my_spec.feature_dim)


def test_your_own_backbone_loads_a_weights_file(my_spec, tmp_path):
    base = _tiny_base(None, (12, 10, 3))
    base.save_weights(tmp_path / "mine.weights.h5")
    model = tl_suite.build_image_classifier(my_spec, num_classes=2,
                                            weights=str(tmp_path / "mine.weights.h5"))
    for expected, loaded in zip(base.get_weights(), model.backbone.get_weights()):
        np.testing.assert_array_equal(expected, loaded)


def test_layer_groups_skip_weightless_layers_and_merge_neighbours(my_spec):
    base = _tiny_base(None, (12, 10, 3))
    groups = my_spec.layer_groups(base)
    assert [name for name, _ in groups] == ["stem", "middle", "top"]
    assert "early_relu" not in [member for _, members in groups for member in members]


def test_group_functions_of_the_built_in_families():
    assert [group_by_prefix(name) for name in ("stem_conv", "block3_expand_bn", "top_conv",
                                               "conv4_block2_out", "block1a_dwconv")] == [
        "stem", "block3", "top", "conv4", "block1a"]
    assert [group_by_block_number(name) for name in ("Conv1", "expanded_conv_depthwise",
                                                     "block_12_project", "Conv_1_bn")] == [
        "stem", "stem", "block_12", "top"]


def test_built_in_specs_group_their_real_layers():
    lite = tl_suite.get_backbone("tiny_efficientnet_lite")
    base = tl_suite.backbones.build_base(lite, weights=None)
    groups = lite.layer_groups(base)
    assert [name for name, _ in groups] == ["stem", "block0", "block1", "top"]
    assert groups[0][1] == ["stem_conv", "stem_bn"]


@pytest.mark.parametrize("pooling, has_pooler", [("mean", False), ("cls", False), ("pooler", True)])
def test_text_spec_layer_groups_keep_the_pooler_only_when_it_is_used(pooling, has_pooler):
    spec = tiny_bert_spec(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"], num_layers=3)
    backbone, _ = spec.load(None)
    groups = spec.layer_groups(backbone, pooling)
    assert [name for name, _ in groups] == [
        "embeddings", "transformer_layer_0", "transformer_layer_1", "transformer_layer_2"]
    assert "token_embedding" in groups[0][1]
    assert not any(name.startswith("transformer") for name in groups[0][1])
    assert ("pooled_dense" in groups[-1][1]) is has_pooler
    members = [member for _, names in groups for member in names]
    with_weights = {layer.name for layer in backbone.layers if layer.weights}
    assert with_weights - set(members) == (set() if has_pooler else {"pooled_dense"})
    model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, pooling=pooling)
    assert model.layer_groups == groups


def test_deprecated_make_preprocessing_still_scales_inside_the_preprocessor(tmp_path):
    import warnings

    import keras
    import numpy as np

    import tl_suite

    base_spec = tl_suite.get_backbone("tiny_efficientnet_lite")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spec = tl_suite.BackboneSpec(
            name="old_style_spec", input_size=(32, 32), feature_dim=16, description="old",
            weights_source="none", make_base=base_spec.make_base, test_only=True,
            make_preprocessing=lambda: [keras.layers.Rescaling(1 / 127.5, offset=-1.0)],
        )
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    model = tl_suite.build_image_classifier(spec, num_classes=2, weights=None)
    x, _ = model.prepare(np.full((1, 32, 32, 3), 255, "uint8"))
    np.testing.assert_allclose(np.asarray(x), 1.0, atol=1e-6)  # 255 / 127.5 - 1
    path = tmp_path / "old.keras"
    model.save(path)
    reloaded = tl_suite.load_model(path)
    np.testing.assert_allclose(np.asarray(reloaded.prepare(np.zeros((1, 32, 32, 3), "uint8"))[0]), -1.0)
