import keras
import numpy as np
import pytest

import tl_suite
from tl_suite.models.layers import BranchGate
from tl_suite.training.branch_choice import branch_gate, choose_branches
from tl_suite.training.feature_cache import FeatureCache

WIDE = 8


def _cache(features, labels):
    return FeatureCache([features[None].astype("float32")], labels[None].astype("int64"), views=1,
                        batch_size=8, ordered=False, storage="memory")


def _features(count, informative, encoder_columns, seed):
    """``count`` examples of encoder columns + WIDE TF-IDF columns; only the ``informative``
    branch says the label (column 0 of it); the rest is noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    encoder = rng.normal(0, 1.0, (count, encoder_columns))
    wide = rng.normal(0, 1.0, (count, WIDE))
    signal = np.where(labels == 1, 2.0, -2.0)
    if informative == "tf_idf":
        wide[:, 0] = signal
    else:
        encoder[:, 0] = signal
    return np.concatenate([encoder, wide], axis=1), labels


class _Model:
    """What `choose_branches` reads of a text model: head, optimizer, compile config."""

    def __init__(self, encoder_columns):
        self.head = tl_suite.models.heads.build_head((encoder_columns + WIDE,), 2, dropout=0.0,
                                                     gated_columns=encoder_columns)
        self.optimizer = keras.optimizers.Adam(1e-2)
        self.loss = "sparse_categorical_crossentropy"

    def get_compile_config(self):
        return {"loss": self.loss}


@pytest.mark.parametrize("informative, encoder_columns, examples, expected", [
    ("tf_idf", 32, 24, "tf_idf"),  # many noisy encoder columns, few examples: the joint head overfits
    ("encoder", 8, 48, "encoder+tf_idf"),  # the TF-IDF columns alone cannot tell the classes apart
])
def test_the_branches_that_carry_the_label_are_chosen(informative, encoder_columns, examples,
                                                       expected):
    keras.utils.set_random_seed(1)
    model = _Model(encoder_columns)
    before = [np.array(w) for w in model.head.trainable_weights]
    train = _cache(*_features(examples, informative, encoder_columns, seed=1))
    validation = _cache(*_features(64, informative, encoder_columns, seed=2))
    choice = choose_branches(model, train, validation, seed=1, epochs=30, verbose=False)
    losses = choice["validation_loss"]
    assert choice["chosen"] == expected == min(losses, key=losses.get)
    assert float(branch_gate(model).gate.numpy()) == (0.0 if expected == "tf_idf" else 1.0)
    for kept, weight in zip(before, model.head.trainable_weights):
        np.testing.assert_array_equal(kept, weight)  # the run trains the head, not the choice


def test_a_closed_gate_hides_the_encoder_columns():
    gate = BranchGate(columns=3)
    features = np.arange(10, dtype="float32").reshape(2, 5)
    np.testing.assert_array_equal(gate(features), features)
    gate.set_gate(0.0)
    expected = features.copy()
    expected[:, :3] = 0
    np.testing.assert_array_equal(gate(features), expected)
    assert gate.trainable_weights == [] and BranchGate.from_config(gate.get_config()).columns == 3


def test_models_without_a_wide_branch_are_left_alone(make_model):
    assert choose_branches(make_model(), None, None) is None
