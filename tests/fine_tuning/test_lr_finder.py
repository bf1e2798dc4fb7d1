import numpy as np
import pytest

import tl_suite
from tl_suite.fine_tuning import lr_finder
from tl_suite.fine_tuning.freezing import is_frozen
from tl_suite.models.word_ratios import naive_bayes_layer, ratios_from_texts


@pytest.mark.parametrize("frozen", [True, False])
def test_find_learning_rate_restores_weights_exactly(tmp_path, image_splits, scalar_tags, frozen):
    train, _ = image_splits
    model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=3, weights=None, seed=0)
    if not frozen:
        tl_suite.unfreeze(model, learning_rate=1e-4)
    model.compile(optimizer=model.optimizer, steps_per_execution=2)  # settings to get back
    optimizer, compiled = model.optimizer, model.get_compile_config()
    before = [np.array(v) for v in model.variables]
    sweep = tl_suite.find_learning_rate(model, train, num_steps=30, end_learning_rate=100.0,
                                        log_dir=str(tmp_path), verbose=False)
    for value, variable in zip(before, model.variables):
        np.testing.assert_array_equal(value, np.array(variable))
    assert model.optimizer is optimizer and is_frozen(model) == frozen
    assert model.steps_per_execution == 2
    assert model.get_compile_config()["loss"] == compiled["loss"]
    assert 5 <= len(sweep.learning_rates) <= 30 and np.all(np.diff(sweep.learning_rates) > 0)
    assert sweep.learning_rates[0] <= sweep.suggestion <= sweep.learning_rates[-1]
    assert sweep.suggestion < sweep.learning_rates[int(np.argmin(sweep.losses))] * 1.0001
    assert sweep.figure.axes[0].get_xscale() == "log"
    assert "lr_finder/loss" in scalar_tags(tmp_path)
    history = tl_suite.fit(model, train, epochs=1, log_dir=str(tmp_path / "after"), verbose=0)
    assert np.isfinite(history.history["loss"][0])  # the model still trains normally


def test_find_learning_rate_diverges_and_stops_early(image_splits):
    train, _ = image_splits
    model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=3, weights=None, seed=0)
    sweep = tl_suite.find_learning_rate(model, train, start_learning_rate=1e-4,
                                        end_learning_rate=1e6, num_steps=60, verbose=False)
    assert len(sweep.learning_rates) < 60  # the loss blew up before the end of the sweep


def test_find_learning_rate_on_an_unfrozen_text_model(text_spec, text_data):
    _, _, data = text_data
    model = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None, seed=0)
    tl_suite.unfreeze(model, groups=1)
    model.preprocessor.adapt(data)  # the TF-IDF vocabulary: learnt once, kept (see below)
    before = [np.array(w) for w in model.weights]
    sweep = tl_suite.find_learning_rate(model, data, num_steps=8, verbose=False)
    assert len(sweep.raw_losses) >= 5 and np.all(np.isfinite(sweep.raw_losses))
    for value, weight in zip(before, model.weights):
        np.testing.assert_array_equal(value, np.array(weight))
    fresh = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None, seed=0)
    tl_suite.find_learning_rate(fresh, data, num_steps=5, verbose=False)  # learns it as fit does
    assert fresh.preprocessor.tf_idf.vocabulary == model.preprocessor.tf_idf.vocabulary


def test_find_learning_rate_argument_errors(image_splits):
    train, _ = image_splits
    model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=3, weights=None)
    with pytest.raises(ValueError, match="Received: start_learning_rate=1.0, end_learning_rate=0.1"):
        tl_suite.find_learning_rate(model, train, start_learning_rate=1.0, end_learning_rate=0.1)
    with pytest.raises(ValueError, match="Received: num_steps=3"):
        tl_suite.find_learning_rate(model, train, num_steps=3)


@pytest.mark.parametrize("unfrozen", [False, True])
def test_the_sweep_trains_with_the_naive_bayes_ratios_fit_would_set(text_spec, text_data, monkeypatch,
                                                                     unfrozen):
    """The head swept is the head `fit` trains: its TF-IDF ratios come from all the training
    data (not the sweep's first batch), and are undone with the other weights afterwards."""
    _, _, data = text_data
    model = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None, seed=0)
    if unfrozen:
        tl_suite.unfreeze(model, groups=1)
    model.preprocessor.adapt(data)
    seen = []

    def spy(real):
        def wrapped(*args, **kwargs):
            done = real(*args, **kwargs)
            seen.append(naive_bayes_layer(model).ratios.numpy().copy())
            return done
        return wrapped

    for name in ("ratios_from_texts", "ratios_from_cache"):
        monkeypatch.setattr(lr_finder, name, spy(getattr(lr_finder, name)))
    tl_suite.find_learning_rate(model, data, num_steps=5, verbose=False)
    assert len(seen) == 1 and not naive_bayes_layer(model).has_ratios  # set once, then undone
    reference = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None, seed=0)
    reference.preprocessor.adapt(data)
    ratios_from_texts(reference, data)
    np.testing.assert_allclose(seen[0], naive_bayes_layer(reference).ratios.numpy(), rtol=1e-4)
