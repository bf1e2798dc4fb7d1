import os

import keras
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import tl_suite
from tl_suite.backbones import text as text_backbones

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film", "the", "plot"]


@pytest.fixture
def image_splits(tiny_arrays):
    images, labels = tiny_arrays
    return tl_suite.image_dataset(images=images, labels=labels, validation_split=0.25, subset="both",
                                  batch_size=15, seed=0, verbose=False)


def _batch_norm_statistics(model):
    return {v.path: np.array(v) for v in model.get_layer("backbone").non_trainable_weights
            if "moving" in v.path}


def _scalar_tags(directory):
    tags = set()
    for root, _, files in os.walk(directory):
        if any(name.startswith("events") for name in files):
            accumulator = EventAccumulator(root, size_guidance={"tensors": 0})
            accumulator.Reload()
            tags |= set(accumulator.Tags()["tensors"])
    return tags


def test_fine_tune_runs_both_stages_as_one_logged_run(tmp_path, image_splits):
    train, validation = image_splits
    model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=3, weights=None, seed=0)
    statistics = _batch_norm_statistics(model)
    stem = np.array(model.get_layer("backbone").get_layer("stem_conv").kernel)
    history = tl_suite.fine_tune(model, train, validation, frozen_epochs=2, epochs=3,
                                 base_learning_rate=1e-3, log_dir=str(tmp_path), verbose=0)
    assert [stage[:3] for stage in history.stages] == [("frozen", 0, 1), ("unfrozen", 2, 4)]
    assert history.stages[1][3] > history.stages[0][3]  # more trainable parameters after unfreezing
    assert len(history.history["loss"]) == 5 and len(history.history["val_loss"]) == 5
    # The base trained, BatchNorm statistics did not move.
    assert not np.allclose(stem, np.array(model.get_layer("backbone").get_layer("stem_conv").kernel))
    for path, value in _batch_norm_statistics(model).items():
        np.testing.assert_array_equal(value, statistics[path], err_msg=path)
    assert isinstance(model.optimizer, tl_suite.DiscriminativeAdam)
    tags = _scalar_tags(tmp_path)
    assert {"stage", "epoch_learning_rate", "epoch_loss"} <= tags
    assert (tmp_path / "best.keras").exists()


def test_fine_tune_gradual_opens_one_group_per_epoch(tmp_path, image_splits):
    train, _ = image_splits
    model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=3, weights=None, seed=0)
    base = model.get_layer("backbone")
    kernels = {name: np.array(base.get_layer(name).kernel) for name in
               ("stem_conv", "block0_dw_conv", "block1_dw_conv", "top_conv")}
    history = tl_suite.fine_tune(model, train, frozen_epochs=0, epochs=2, gradual=True,
                                 schedule="constant", base_learning_rate=1e-3,
                                 log_dir=str(tmp_path), verbose=0)
    assert history.history["open_groups"] == [1.0, 2.0]
    moved = {name: not np.array_equal(before, np.array(base.get_layer(name).kernel))
             for name, before in kernels.items()}
    assert moved == {"stem_conv": False, "block0_dw_conv": False, "block1_dw_conv": True, "top_conv": True}


def test_fine_tune_top_groups_only_and_argument_errors(tmp_path, image_splits):
    train, _ = image_splits
    model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=3, weights=None)
    tl_suite.fine_tune(model, train, frozen_epochs=0, epochs=1, unfreeze_groups=1,
                       log_dir=str(tmp_path), verbose=0)
    trainable = {w.path.split("/")[0] for w in model.trainable_weights}
    assert trainable == {"top_conv", "predictions"}
    with pytest.raises(ValueError, match="already"):  # stage 1 needs a frozen base
        tl_suite.fine_tune(model, train, frozen_epochs=1, log_dir=str(tmp_path), verbose=0)
    fresh = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=3, weights=None)
    with pytest.raises(ValueError, match="Received: schedule='linear'"):
        tl_suite.fine_tune(fresh, train, schedule="linear", log_dir=str(tmp_path))
    with pytest.raises(ValueError, match="Received: unfreeze_groups=9"):
        tl_suite.fine_tune(fresh, train, unfreeze_groups=9, log_dir=str(tmp_path))


@pytest.mark.parametrize("frozen", [True, False])
def test_find_learning_rate_restores_weights_exactly(tmp_path, image_splits, frozen):
    train, _ = image_splits
    model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=3, weights=None, seed=0)
    if not frozen:
        tl_suite.unfreeze(model, learning_rate=1e-4)
    optimizer = model.optimizer
    before = [np.array(v) for v in model.variables]
    sweep = tl_suite.find_learning_rate(model, train, num_steps=30, end_learning_rate=100.0,
                                        log_dir=str(tmp_path), verbose=False)
    for value, variable in zip(before, model.variables):
        np.testing.assert_array_equal(value, np.array(variable))
    assert model.optimizer is optimizer
    assert 5 <= len(sweep.learning_rates) <= 30 and np.all(np.diff(sweep.learning_rates) > 0)
    assert sweep.learning_rates[0] <= sweep.suggestion <= sweep.learning_rates[-1]
    assert sweep.suggestion < sweep.learning_rates[int(np.argmin(sweep.losses))] * 1.0001
    assert sweep.figure.axes[0].get_xscale() == "log"
    assert "lr_finder/loss" in _scalar_tags(tmp_path)
    history = tl_suite.fit(model, train, epochs=1, log_dir=str(tmp_path / "after"), verbose=0)
    assert np.isfinite(history.history["loss"][0])  # the model still trains normally


def test_find_learning_rate_diverges_and_stops_early(image_splits):
    train, _ = image_splits
    model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=3, weights=None, seed=0)
    sweep = tl_suite.find_learning_rate(model, train, start_learning_rate=1e-4,
                                        end_learning_rate=1e6, num_steps=60, verbose=False)
    assert len(sweep.learning_rates) < 60  # the loss blew up before the end of the sweep


@pytest.fixture
def text_data():
    texts = ["good film", "bad film", "good plot", "bad plot", "the good", "the bad"] * 4
    labels = [1, 0, 1, 0, 1, 0] * 4
    return texts, labels, tl_suite.text_dataset(texts=texts, labels=labels, batch_size=8, seed=0,
                                                verbose=False)


def test_lora_trains_adapters_and_head_only(tmp_path, text_data):
    texts, _, data = text_data
    spec = text_backbones.tiny_bert_spec(VOCABULARY)
    model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, lora_rank=2,
                                           learning_rate=5e-2, seed=0)
    names = {w.path.split("/")[-1] for w in model.trainable_weights if "head" not in w.path
             and not w.path.startswith("predictions")}
    assert names == {"lora_kernel_a", "lora_kernel_b"}
    base = {w.path: np.array(w) for w in model.backbone.weights if "lora" not in w.path}
    predictions = model.predict(texts[:4], verbose=0)
    history = tl_suite.fit(model, data, epochs=8, log_dir=str(tmp_path), verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    for weight in model.backbone.weights:  # base weights bitwise unchanged
        if "lora" not in weight.path:
            np.testing.assert_array_equal(base[weight.path], np.array(weight), err_msg=weight.path)
    trained = model.predict(texts[:4], verbose=0)
    assert not np.allclose(predictions, trained)
    lora_b = [w for w in model.backbone.weights if w.path.endswith("lora_kernel_b")]
    assert any(np.abs(np.array(w)).max() > 0 for w in lora_b)  # adapters moved from zero

    # Adapter file: small, and restores the trained behaviour into a fresh model.
    path = tmp_path / "sentiment.lora.h5"
    tl_suite.save_adapter(model, path)
    fresh = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, lora_rank=2, seed=1)
    fresh.backbone.set_weights(model.backbone.get_weights())  # same base "checkpoint"
    for weight in fresh.backbone.weights:
        if "lora" in weight.path:
            weight.assign(np.zeros(weight.shape))
    tl_suite.load_adapter(fresh, path)
    np.testing.assert_allclose(fresh.predict(texts[:4], verbose=0), trained, rtol=1e-5, atol=1e-6)

    # Merged export: no adapter variables, same predictions.
    merged = tl_suite.merge_lora(model)
    assert not any("lora" in w.path for w in merged.weights)
    np.testing.assert_allclose(merged.predict(texts[:4], verbose=0), trained, rtol=1e-4, atol=1e-5)


def test_lora_errors(tmp_path):
    spec = text_backbones.tiny_bert_spec(VOCABULARY)
    with pytest.raises(ValueError, match="Received: lora_rank=0"):
        tl_suite.build_text_classifier(spec, num_classes=2, weights=None, lora_rank=0)
    plain = tl_suite.build_text_classifier(spec, num_classes=2, weights=None)
    with pytest.raises(ValueError, match="no LoRA adapters"):
        tl_suite.save_adapter(plain, tmp_path / "x.lora.h5")
    lora = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, lora_rank=2)
    with pytest.raises(ValueError, match="must end in `.lora.h5`"):
        tl_suite.save_adapter(lora, tmp_path / "x.h5")
    tl_suite.save_adapter(lora, tmp_path / "two.lora.h5")
    other_head = tl_suite.build_text_classifier(spec, num_classes=3, weights=None, lora_rank=2)
    with pytest.raises(ValueError, match="same head"):
        tl_suite.load_adapter(other_head, tmp_path / "two.lora.h5")


def test_fine_tune_text_model_with_discriminative_rates(tmp_path, text_data):
    _, _, data = text_data
    spec = text_backbones.tiny_bert_spec(VOCABULARY)
    model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, seed=0)
    embeddings = np.array(model.backbone.get_layer("token_embedding").embeddings)
    history = tl_suite.fine_tune(model, data, frozen_epochs=1, epochs=2, base_learning_rate=1e-3,
                                 layer_decay=0.5, log_dir=str(tmp_path), verbose=0)
    assert len(history.history["loss"]) == 3
    multipliers = model.optimizer.learning_rate_multipliers
    assert multipliers["transformer_layer_1"] == pytest.approx(0.1)
    assert multipliers["transformer_layer_0"] == pytest.approx(0.05)
    assert multipliers["token_embedding"] == pytest.approx(0.025)
    assert not np.array_equal(embeddings, np.array(model.backbone.get_layer("token_embedding").embeddings))
