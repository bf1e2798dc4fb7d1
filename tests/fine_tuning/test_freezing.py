import keras
import numpy as np
import pytest

import tl_suite
from tl_suite.fine_tuning.freezing import base_layers, is_frozen
from tl_suite.models.task import TransferModel

IMAGE_GROUPS = ["stem", "block0", "block1", "top"]


def _trainable_layers(model):
    return {w.path.split("/")[0] for w in model.trainable_weights}


@pytest.fixture
def compile_calls(monkeypatch):
    """The ``compile`` calls of every tl_suite model from here on (keyword arguments)."""
    calls, original = [], TransferModel.compile

    def counting(self, *args, **kwargs):
        calls.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TransferModel, "compile", counting)
    return calls


def test_layer_groups_are_declared_by_the_spec(text_spec):
    image = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=2, weights=None)
    groups = tl_suite.layer_groups(image)
    assert [name for name, _ in groups] == IMAGE_GROUPS
    assert groups[0][1] == ["stem_conv", "stem_bn"]
    text = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None)
    groups = tl_suite.layer_groups(text)
    assert [name for name, _ in groups] == ["embeddings", "transformer_layer_0", "transformer_layer_1"]
    assert "token_embedding" in groups[0][1]
    # BERT's pooler belongs to a group only when the model pools with it.
    assert not any("pooled_dense" in members for _, members in groups)
    pooler = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None, pooling="pooler")
    assert tl_suite.layer_groups(pooler)[-1][1] == ["transformer_layer_1", "pooled_dense"]
    with pytest.raises(ValueError, match="Received: a Sequential"):
        tl_suite.layer_groups(keras.Sequential([keras.layers.Dense(1)]))


@pytest.mark.parametrize("groups, opened", [
    (["stem", "top"], ["stem_conv", "top_conv"]),
    ("block0", ["block0_dw_conv", "block0_project_conv"]),
    (2, ["block1_expand_conv", "block1_dw_conv", "block1_project_conv", "top_conv"]),
    (None, ["stem_conv", "block0_dw_conv", "block0_project_conv", "block1_expand_conv",
            "block1_dw_conv", "block1_project_conv", "top_conv"]),
])
def test_unfreeze_opens_exactly_the_chosen_groups(image_model, groups, opened):
    assert tl_suite.unfreeze(image_model, groups=groups) == opened
    assert _trainable_layers(image_model) == {*opened, "predictions"}
    assert isinstance(image_model.optimizer, keras.optimizers.Adam)
    assert not isinstance(image_model.optimizer, tl_suite.DiscriminativeAdam)


def test_batch_norm_stays_frozen_while_the_base_trains(tmp_path, image_model, image_splits):
    train, _ = image_splits
    tl_suite.unfreeze(image_model, learning_rate=1e-2)
    norms = [layer for layer in base_layers(image_model)
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and not any(layer.trainable for layer in norms)
    before = {w.path: np.array(w) for layer in norms for w in layer.weights}
    stem = np.array(image_model.backbone.get_layer("stem_conv").kernel)
    tl_suite.fit(image_model, train, epochs=1, log_dir=str(tmp_path), verbose=0)
    assert not np.allclose(stem, np.array(image_model.backbone.get_layer("stem_conv").kernel))
    for layer in norms:  # neither statistics nor scale/offset moved
        for weight in layer.weights:
            np.testing.assert_array_equal(before[weight.path], np.array(weight), err_msg=weight.path)


def test_unfreeze_recompiles_once_keeping_loss_metrics_and_settings(image_model, compile_calls):
    loss = keras.losses.SparseCategoricalCrossentropy(name="my_loss")
    image_model.compile(loss=loss, metrics=[keras.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2")],
                        steps_per_execution=3)
    before = image_model.get_compile_config()
    del compile_calls[:]
    tl_suite.unfreeze(image_model, groups=["top"], learning_rate=1e-3, base_learning_rate=1e-4)
    assert len(compile_calls) == 1
    after = image_model.get_compile_config()
    assert after["loss"] == before["loss"] and after["metrics"] == before["metrics"]
    assert image_model.steps_per_execution == 3
    assert image_model.optimizer.learning_rate_multipliers["top_conv"] == pytest.approx(0.1)


def test_freeze_closes_the_base_and_keeps_the_loss(image_model, compile_calls):
    tl_suite.unfreeze(image_model, groups=2)
    assert not is_frozen(image_model)
    loss = image_model.get_compile_config()["loss"]
    tl_suite.freeze(image_model)
    assert is_frozen(image_model) and _trainable_layers(image_model) == {"predictions"}
    assert len(compile_calls) == 2
    assert image_model.get_compile_config()["loss"] == loss
    assert float(image_model.optimizer.learning_rate) == pytest.approx(image_model.learning_rate)
    tl_suite.freeze(image_model, learning_rate=0.5)
    assert float(image_model.optimizer.learning_rate) == pytest.approx(0.5)


def test_text_groups_open_exactly_and_the_unused_pooler_stays_frozen(text_spec):
    model = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None)
    assert tl_suite.unfreeze(model, groups=["transformer_layer_1"]) == ["transformer_layer_1"]
    assert _trainable_layers(model) == {"transformer_layer_1", "predictions"}
    opened = tl_suite.unfreeze(model)  # all groups: still not the unused pooler
    assert "pooled_dense" not in opened and "token_embedding" in opened
    assert not model.backbone.get_layer("pooled_dense").trainable


def test_deprecated_layers_and_from_layer_still_work_and_warn(image_model, text_spec):
    with pytest.warns(DeprecationWarning, match="groups"):
        opened = tl_suite.unfreeze(image_model, from_layer="block1")
    assert opened == ["block1_expand_conv", "block1_dw_conv", "block1_project_conv", "top_conv"]
    with pytest.warns(DeprecationWarning, match="groups"):
        # The top 5 base layers: block1_project_conv/_bn, top_conv/_bn/_relu6; BatchNorm stays
        # frozen and weightless layers are not listed.
        assert tl_suite.unfreeze(image_model, layers=5) == ["block1_project_conv", "top_conv"]
    text = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None, pooling="pooler")
    with pytest.warns(DeprecationWarning):  # text: the top N transformer blocks
        assert tl_suite.unfreeze(text, layers=1) == ["transformer_layer_1", "pooled_dense"]
    with pytest.warns(DeprecationWarning):  # more blocks than there are: all, not the embeddings
        assert tl_suite.unfreeze(text, layers=9) == ["transformer_layer_0", "transformer_layer_1",
                                                     "pooled_dense"]
    with pytest.warns(DeprecationWarning):
        assert tl_suite.unfreeze(text, from_layer="transformer_layer_1") == [
            "transformer_layer_1", "pooled_dense"]


def test_selection_errors_name_the_groups_and_change_nothing(image_model):
    with pytest.raises(ValueError, match=r"from \['stem', 'block0', 'block1', 'top'\].*groups=\['block'\]"):
        tl_suite.unfreeze(image_model, groups=["block"])  # no substring matching
    with pytest.raises(ValueError, match=r"in \[1, 4\].*Received: groups=5"):
        tl_suite.unfreeze(image_model, groups=5)
    with pytest.raises(ValueError, match="Received: groups=\\[\\]"):
        tl_suite.unfreeze(image_model, groups=[])
    with pytest.raises(ValueError, match="Received: layer_decay=0"):
        tl_suite.unfreeze(image_model, learning_rate=1e-3, layer_decay=0)
    with pytest.raises(ValueError, match="Pass `groups` alone"):
        tl_suite.unfreeze(image_model, groups=1, layers=2)
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="No layer name contains 'blok'"):
        tl_suite.unfreeze(image_model, from_layer="blok")
    with pytest.raises(ValueError, match="not both"):
        tl_suite.unfreeze(image_model, layers=2, from_layer="top")
    assert is_frozen(image_model)
