import csv

import keras
import numpy as np
import pytest
import tensorflow as tf

import tl_suite
from tl_suite.fine_tuning.fine_tune import count_batches
from tl_suite.fine_tuning.freezing import is_frozen
from tl_suite.models.task import TransferModel


def _batch_norm_statistics(model):
    return {v.path: np.array(v) for v in model.get_layer("backbone").non_trainable_weights
            if "moving" in v.path}


def test_fine_tune_runs_both_stages_as_one_logged_run(tmp_path, image_splits, scalar_tags):
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
    tags = scalar_tags(tmp_path)
    assert {"stage", "epoch_learning_rate", "epoch_loss"} <= tags
    assert (tmp_path / "run-001" / "best.keras").exists()
    facts = model.card["training"]  # the model card's training data, as after `fit`
    assert facts["examples"] == train.num_examples and facts["epochs"] == 5
    assert facts["validation_examples"] == validation.num_examples


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


def test_fine_tune_text_model_with_discriminative_rates(tmp_path, text_spec, text_data):
    _, _, data = text_data
    model = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None, seed=0)
    embeddings = np.array(model.backbone.get_layer("token_embedding").embeddings)
    history = tl_suite.fine_tune(model, data, frozen_epochs=1, epochs=2, base_learning_rate=1e-3,
                                 layer_decay=0.5, log_dir=str(tmp_path), verbose=0)
    assert len(history.history["loss"]) == 3
    multipliers = model.optimizer.learning_rate_multipliers
    assert multipliers["transformer_layer_1"] == pytest.approx(0.1)
    assert multipliers["transformer_layer_0"] == pytest.approx(0.05)
    assert multipliers["token_embedding"] == pytest.approx(0.025)
    assert not np.array_equal(embeddings, np.array(model.backbone.get_layer("token_embedding").embeddings))


def test_stage_two_compiles_once_with_the_scheduled_discriminative_optimizer(
        tmp_path, image_splits, monkeypatch):
    train, _ = image_splits
    model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=3, weights=None)
    calls, original = [], TransferModel.compile
    monkeypatch.setattr(TransferModel, "compile",
                        lambda self, *args, **kwargs: calls.append(kwargs) or original(self, *args, **kwargs))
    tl_suite.fine_tune(model, train, frozen_epochs=1, epochs=1, unfreeze_groups=2,
                       base_learning_rate=1e-3, layer_decay=0.5, log_dir=str(tmp_path), verbose=0)
    assert len(calls) == 1  # stage 1 compiles only the head; stage 2 the model, once
    optimizer = model.optimizer
    assert optimizer.get_config()["learning_rate"]["class_name"] == "OneCycle"
    assert optimizer.learning_rate_multipliers["top_conv"] == pytest.approx(0.1)
    assert optimizer.learning_rate_multipliers["block1_dw_conv"] == pytest.approx(0.05)
    assert {w.path.split("/")[0] for w in model.trainable_weights} == {
        "block1_expand_conv", "block1_dw_conv", "block1_project_conv", "top_conv", "predictions"}
    assert not is_frozen(model)


def test_fine_tune_gradual_on_a_text_model(tmp_path, text_spec, text_data):
    _, _, data = text_data
    model = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None, seed=0)
    embeddings = np.array(model.backbone.get_layer("token_embedding").embeddings)
    history = tl_suite.fine_tune(model, data, frozen_epochs=1, epochs=2, gradual=True,
                                 base_learning_rate=1e-3, log_dir=str(tmp_path), verbose=0)
    assert history.history["open_groups"] == [1.0, 2.0]  # logged in stage 2 only
    # Two of the three groups opened by the end: the embeddings never trained.
    after = np.array(model.backbone.get_layer("token_embedding").embeddings)
    np.testing.assert_array_equal(embeddings, after)


def test_count_batches():
    assert count_batches(tf.data.Dataset.range(10).batch(3)) == 4
    assert count_batches(tf.data.Dataset.range(10).filter(lambda x: x > 4).batch(2)) == 3
    with pytest.raises(ValueError, match="repeats forever"):
        count_batches(tf.data.Dataset.range(3).repeat())


class _CrashAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("crash_epoch", [0, 3])  # in stage 1 / in stage 2
def test_a_crashed_fine_tune_resumes_at_its_stage_and_epoch(tmp_path, tiny_arrays, crash_epoch, capsys):
    images, labels = tiny_arrays
    train = tl_suite.image_dataset(images=images, labels=labels, batch_size=16, verbose=False)
    arguments = dict(frozen_epochs=2, epochs=3, base_learning_rate=1e-3, log_dir=str(tmp_path), verbose=2)

    def model():
        keras.utils.set_random_seed(0)
        return tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=3, weights=None)

    with pytest.raises(KeyboardInterrupt):
        tl_suite.fine_tune(model(), train, callbacks=[_CrashAt(crash_epoch)], **arguments)
    capsys.readouterr()
    history = tl_suite.fine_tune(model(), train, **arguments)
    printed = capsys.readouterr().out
    assert "Resuming run" in printed
    assert ("Stage 1/2" in printed) == (crash_epoch == 0)  # a finished stage 1 is not rerun
    assert history.epoch[0] == crash_epoch + 1 and history.epoch[-1] == 4
    assert [stage[:3] for stage in history.stages] == [("frozen", 0, 1), ("unfrozen", 2, 4)]
    with open(tmp_path / "run-001" / "training_log.csv") as file:
        assert [int(row["epoch"]) for row in csv.DictReader(file)] == [0, 1, 2, 3, 4]


def test_taggers_get_their_own_recipe_defaults_and_other_models_keep_theirs(
        tmp_path, text_spec, monkeypatch):
    from tl_suite.fine_tuning import fine_tune as fine_tune_module

    assert fine_tune_module.get_recipe_defaults("classification") == {
        "frozen_epochs": 1, "epochs": 3, "base_learning_rate": 1e-4}
    assert fine_tune_module.get_recipe_defaults("token_classification") == {
        "frozen_epochs": 40, "epochs": 5, "base_learning_rate": 2e-4}
    # Small stand-ins for the tagger recipe, to see fine_tune take them (and only for taggers).
    monkeypatch.setitem(fine_tune_module._TASK_DEFAULTS, "token_classification",
                        {"frozen_epochs": 2, "epochs": 1, "base_learning_rate": 3e-4})
    data = tl_suite.token_dataset(sentences=[["good", "film"], ["the", "plot"]] * 4,
                                  tags=[["B-x", "O"], ["O", "B-x"]] * 4, batch_size=4, verbose=False)
    tagger = tl_suite.build_token_classifier(text_spec, tags=data.tag_names, weights=None, seed=0)
    history = tl_suite.fine_tune(tagger, data, log_dir=str(tmp_path / "tagger"), verbose=0)
    assert [stage[:3] for stage in history.stages] == [("frozen", 0, 1), ("unfrozen", 2, 2)]
    peak = tagger.optimizer.get_config()["learning_rate"]["config"]["maximal_learning_rate"]
    assert peak == pytest.approx(3e-3)  # the head peaks at 10x the base rate
    texts = tl_suite.text_dataset(texts=["good film", "bad plot"] * 4, labels=[1, 0] * 4,
                                  batch_size=4, verbose=False)
    classifier = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None, seed=0)
    history = tl_suite.fine_tune(classifier, texts, log_dir=str(tmp_path / "classifier"), verbose=0)
    assert [stage[:3] for stage in history.stages] == [("frozen", 0, 0), ("unfrozen", 1, 3)]
    peak = classifier.optimizer.get_config()["learning_rate"]["config"]["maximal_learning_rate"]
    assert peak == pytest.approx(1e-3)
    # Explicit arguments win over the defaults.
    fresh = tl_suite.build_token_classifier(text_spec, tags=data.tag_names, weights=None, seed=0)
    history = tl_suite.fine_tune(fresh, data, frozen_epochs=0, epochs=2,
                                 log_dir=str(tmp_path / "explicit"), verbose=0)
    assert [stage[:3] for stage in history.stages] == [("unfrozen", 0, 1)]
