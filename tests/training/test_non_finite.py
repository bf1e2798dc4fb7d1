import keras
import numpy as np
import pytest

from tl_suite.training import non_finite
from tl_suite.training.best_model import BestModel


def _model(rate):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(rate), "mse")
    return model


def test_non_finite_learning_rates_are_refused():
    non_finite.check_learning_rate(_model(0.1))
    for rate in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="finite number >= 0"):
            non_finite.check_learning_rate(_model(rate))


def test_a_diverging_run_stops_and_falls_back_to_its_best_finite_weights():
    model = _model(0.01)
    x, y = np.ones((16, 2), "float32"), np.ones(16, "float32")
    guard, best = non_finite.StopOnNonFinite(), BestModel("loss")
    model.fit(x, y, batch_size=4, epochs=2, callbacks=[guard, best], verbose=0)
    kept = [w.copy() for w in best.best_weights]
    model.optimizer.learning_rate.assign(1e35)
    model.fit(x * 1e10, y, batch_size=4, epochs=5, callbacks=[guard, best], verbose=0)
    assert guard.tripped[0] == 0 and guard.tripped[1] <= 1  # within the first batches
    with pytest.raises(non_finite.NonFiniteLossError, match=r"epoch 1, batch \d: loss=(inf|nan).*best weights, epoch 2"):
        non_finite.recover(guard, best, model, 1e35)
    for got, expected in zip(model.get_weights(), kept):
        np.testing.assert_array_equal(got, expected)
    assert all(np.isfinite(np.asarray(v)).all() for v in model.optimizer.variables)
