import keras
import numpy as np
import pytest

import tl_suite
from tl_suite.fine_tuning.schedules import make_schedule


def _values(schedule, steps):
    return np.array([float(schedule(step)) for step in steps])


def test_one_cycle_warms_up_then_anneals_and_serializes():
    schedule = tl_suite.OneCycle(1e-2, total_steps=40, warmup_fraction=0.25)
    values = _values(schedule, range(41))
    assert values[0] == pytest.approx(1e-2 / 25, rel=1e-5)
    assert values.argmax() == 10 and values[10] == pytest.approx(1e-2, rel=1e-5)
    assert np.all(np.diff(values[:11]) > 0) and np.all(np.diff(values[10:]) < 0)
    assert values[40] == pytest.approx(1e-7, rel=1e-3)
    assert float(schedule(1000)) == pytest.approx(1e-7, rel=1e-3)  # stays at the end value
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    np.testing.assert_allclose(_values(again, range(41)), values)


def test_warmup_cosine_is_keras_cosine_decay_with_warmup():
    schedule = tl_suite.warmup_cosine(1e-3, total_steps=100, warmup_steps=20)
    values = _values(schedule, [0, 10, 20, 60, 100])
    np.testing.assert_allclose(values, [0, 5e-4, 1e-3, 5e-4, 0], atol=1e-9)
    with pytest.raises(ValueError, match="Received: warmup_steps=100"):
        tl_suite.warmup_cosine(1e-3, total_steps=100, warmup_steps=100)
    with pytest.raises(ValueError, match="Received: total_steps=0"):
        tl_suite.OneCycle(1e-3, total_steps=0)


def test_make_schedule_by_name():
    assert isinstance(make_schedule("one_cycle", 1e-3, 10), tl_suite.OneCycle)
    cosine = make_schedule("cosine", 1e-3, 1)  # at least two steps
    assert float(cosine(1)) == pytest.approx(1e-3)
    assert make_schedule("constant", 1e-3, 10) == 1e-3
    with pytest.raises(ValueError, match=r"\['one_cycle', 'cosine', 'constant'\]. Received: schedule="):
        make_schedule("linear", 1e-3, 10)
