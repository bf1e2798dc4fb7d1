import glob
import os
import tempfile
import warnings

import keras
import numpy as np
import pytest

import tl_suite
from tl_suite.fine_tuning.freezing import is_frozen, recompile
from tl_suite.training import cached_head


def _model(make_model, seed=3, **kwargs):
    return make_model(seed=seed, learning_rate=1e-2, **kwargs)


def _data(tiny_arrays, **kwargs):
    images, labels = tiny_arrays
    return tl_suite.image_dataset(images=images, labels=labels, batch_size=8, verbose=False, **kwargs)


def _unfreeze(model):
    model.backbone.trainable = True
    recompile(model, keras.optimizers.Adam(1e-2))


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_cached_and_plain_paths_train_the_same_head(tmp_path, tiny_arrays, make_model, dropout):
    train = _data(tiny_arrays, shuffle=False)
    heads = []
    for cache in (False, True):
        keras.utils.set_random_seed(7)
        model = _model(make_model, dropout=dropout)
        tl_suite.fit(model, train, epochs=3, log_dir=str(tmp_path / str(cache)),
                     cache_features=cache, early_stopping_patience=None, verbose=0)
        heads.append([np.array(w) for w in model.head.weights])
    initial = [np.array(w) for w in _model(make_model, dropout=dropout).head.weights]
    assert not np.allclose(heads[0][0], initial[0])  # training did move the head
    for plain, cached in zip(*heads):
        np.testing.assert_allclose(plain, cached, rtol=1e-4, atol=1e-5)


def test_cached_fit_leaves_base_and_batch_norm_untouched(tmp_path, tiny_arrays, make_model):
    model = _model(make_model)
    base_before = [np.array(w) for w in model.backbone.weights]
    history = tl_suite.fit(model, _data(tiny_arrays), epochs=4, log_dir=str(tmp_path), verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    for before, after in zip(base_before, model.backbone.weights):
        np.testing.assert_array_equal(before, np.array(after))


def test_head_trainer_shares_weights_optimizer_loss_and_metrics(make_model):
    model = _model(make_model, task="multi_label")
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse",
                  metrics=[keras.metrics.MeanAbsoluteError(name="mean_error")])
    trainer = cached_head.head_trainer(model)
    assert trainer.optimizer is model.optimizer  # its state carries over to later fits
    assert trainer.loss == "mse"
    assert [id(w) for w in trainer.weights] == [id(w) for w in model.head.weights]
    features = np.ones((4, model.head.input_shape[-1]), "float32")
    logs = trainer.evaluate(features, np.zeros((4, 3), "float32"), verbose=0, return_dict=True)
    assert set(logs) == {"loss", "mean_error"}


def test_saved_model_keeps_its_optimizer_state_after_a_cached_fit(tmp_path, tiny_arrays, make_model):
    model = _model(make_model)
    tl_suite.fit(model, _data(tiny_arrays), epochs=1, log_dir=str(tmp_path), verbose=0)
    model.save(tmp_path / "model.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no "Skipping variable loading for optimizer"
        reloaded = keras.saving.load_model(tmp_path / "model.keras")
    for saved, kept in zip(model.optimizer.variables, reloaded.optimizer.variables):
        np.testing.assert_array_equal(np.array(saved), np.array(kept))


def test_repeated_fits_leave_no_cache_files(tmp_path, tiny_arrays, make_model):
    pattern = os.path.join(tempfile.gettempdir(), "tl_suite_features_*")
    before = set(glob.glob(pattern))
    model = _model(make_model)
    train, validation = _data(tiny_arrays, validation_split=0.2, subset="both")
    for run in range(2):
        tl_suite.fit(model, train, validation, epochs=1, log_dir=str(tmp_path / str(run)),
                     feature_cache_memory=0, verbose=0)
    assert set(glob.glob(pattern)) == before


def test_unfrozen_model_uses_the_plain_path(tmp_path, tiny_arrays, make_model):
    model = _model(make_model)
    assert is_frozen(model)
    _unfreeze(model)
    assert not is_frozen(model)
    with pytest.raises(ValueError, match="cache_features=False"):
        tl_suite.fit(model, _data(tiny_arrays), epochs=1, log_dir=str(tmp_path), cache_features=True)
    conv = np.array(model.backbone.get_layer("top_conv").kernel)
    tl_suite.fit(model, _data(tiny_arrays), epochs=1, log_dir=str(tmp_path), verbose=0)
    assert not np.array_equal(conv, np.array(model.backbone.get_layer("top_conv").kernel))


def test_cached_path_prints_what_it_cached(tmp_path, tiny_arrays, make_model, capsys):
    train, validation = _data(tiny_arrays, validation_split=0.25, subset="both")
    tl_suite.fit(_model(make_model), train, validation, epochs=1, log_dir=str(tmp_path), verbose=2)
    printed = capsys.readouterr().out
    assert "Cached frozen features for 45 training examples (feature shape (16,))" in printed
    assert "Cached frozen features for 15 validation examples" in printed and "in memory" in printed
