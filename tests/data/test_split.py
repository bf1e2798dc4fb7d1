import numpy as np
import pytest

from tl_suite.data.split import check_split, sample_indices, select_subset, split_indices


def test_split_is_seeded_disjoint_complete_and_sized():
    parts = split_indices(100, validation_split=0.25, subset="both", seed=7)
    train, validation = parts["training"], parts["validation"]
    assert len(train) == 75 and len(validation) == 25
    assert not set(train) & set(validation) and sorted(np.concatenate([train, validation])) == list(range(100))
    again = split_indices(100, validation_split=0.25, subset="training", seed=7)
    np.testing.assert_array_equal(again["training"], train)  # the subset does not change the split
    other = split_indices(100, validation_split=0.25, subset="both", seed=8)
    assert set(other["validation"]) != set(validation)
    # The same permutation as numpy's seeded generator (so old splits are unchanged).
    np.testing.assert_array_equal(validation, np.random.default_rng(7).permutation(100)[75:])


def test_no_split_keeps_every_example_in_order():
    parts = split_indices(5)
    assert list(parts) == ["all"] and parts["all"].tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("validation_split, subset, message", [
    (0.2, None, "go together"),
    (None, "both", "go together"),
    (0.2, "train", r"`subset` must be 'training', 'validation', 'both' or None. Received: subset='train'"),
    (1.5, "both", r"must be in \(0, 1\). Received: validation_split=1.5"),
    (0, "both", r"Received: validation_split=0"),
    ("0.2", "both", r"Received: validation_split='0.2'"),
])
def test_bad_split_arguments_are_clear_errors(validation_split, subset, message):
    with pytest.raises(ValueError, match=message):
        check_split(validation_split, subset)
    with pytest.raises(ValueError, match=message):
        split_indices(10, validation_split, subset)


def test_a_split_leaving_an_empty_subset_is_an_error():
    with pytest.raises(ValueError, match="leaves an empty subset of 3 examples"):
        split_indices(3, validation_split=0.1, subset="both")


def test_select_subset_builds_only_what_is_asked():
    made = []

    def make(indices, training):
        made.append((indices.tolist(), training))
        return f"dataset{len(made)}"

    parts = {"training": np.array([0, 1]), "validation": np.array([2])}
    assert select_subset(parts, make, "validation") == "dataset1" and made == [([2], False)]
    assert select_subset(parts, make, "training") == "dataset2" and made[-1] == ([0, 1], True)
    assert select_subset(parts, make, "both") == ("dataset3", "dataset4")
    assert made[-2:] == [([0, 1], True), ([2], False)]
    assert select_subset({"all": np.arange(3)}, make, None) == "dataset5" and made[-1] == ([0, 1, 2], True)


def test_sample_indices_is_a_sorted_seeded_subset():
    chosen = sample_indices(50, 10, seed=3)
    assert len(chosen) == 10 and len(set(chosen)) == 10 and list(chosen) == sorted(chosen)
    np.testing.assert_array_equal(chosen, sample_indices(50, 10, seed=3))
    np.testing.assert_array_equal(chosen, np.sort(np.random.default_rng(3).choice(50, 10, replace=False)))
    assert sample_indices(5, None, 0).tolist() == sample_indices(5, 9, 0).tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="Received: max_examples=0"):
        sample_indices(5, 0, 0)
