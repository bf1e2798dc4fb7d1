"""Constrained decoding of per-word tag probabilities (`tl_suite.models.decoding`)."""

import itertools

import numpy as np
import pytest

from tl_suite.models.decoding import (build_transition_masks, decode_constrained, decode_tags,
                                      detect_tag_scheme, find_invalid_sequences)

BIO = ["O", "B-per", "I-per", "B-loc", "I-loc"]
BIOES = ["O", "B-per", "I-per", "E-per", "S-per"]


def _is_valid(sequence, tags):
    start, transitions, end = build_transition_masks(tags)
    indices = [tags.index(tag) for tag in sequence]
    return (not indices or (start[indices[0]] and end[indices[-1]])) and all(
        transitions[a, b] for a, b in zip(indices, indices[1:]))


def _brute_force(probabilities, tags):
    """The most likely valid sequence, by trying them all."""
    best, best_score = None, -np.inf
    for path in itertools.product(range(len(tags)), repeat=len(probabilities)):
        sequence = [tags[i] for i in path]
        score = sum(np.log(probabilities[w, i]) for w, i in enumerate(path))
        if _is_valid(sequence, tags) and score > best_score:
            best, best_score = sequence, score
    return best


@pytest.mark.parametrize("tags, scheme", [
    (BIO, "bio"), (["O", "B-x"], "bio"), (BIOES, "bioes"), (["O", "B-x", "L-x", "U-x"], "bioes"),
    (["PER", "LOC", "O"], None), (["O", "I-per"], None), (["O", "B-per", "I-per", "S-loc"], None),
    (["O", "B-per", "S-per"], None), (["B-per", "I-per", "foo"], None),
])
def test_scheme_is_detected_from_the_tag_names(tags, scheme):
    assert detect_tag_scheme(tags) == scheme


def test_bio_masks_allow_an_inside_tag_only_after_its_own_type():
    start, transitions, end = build_transition_masks(BIO)
    assert start.tolist() == [True, True, False, True, False]
    assert end.all()
    inside_per, inside_loc = BIO.index("I-per"), BIO.index("I-loc")
    assert [BIO[i] for i in np.flatnonzero(transitions[:, inside_per])] == ["B-per", "I-per"]
    assert [BIO[i] for i in np.flatnonzero(transitions[:, inside_loc])] == ["B-loc", "I-loc"]
    outside_or_begin = [BIO.index(tag) for tag in ("O", "B-per", "B-loc")]
    assert transitions[:, outside_or_begin].all()


def test_bioes_masks_close_every_entity():
    start, transitions, end = build_transition_masks(BIOES)
    assert [BIOES[i] for i in np.flatnonzero(start)] == ["O", "B-per", "S-per"]
    assert [BIOES[i] for i in np.flatnonzero(end)] == ["O", "E-per", "S-per"]
    after_begin = np.flatnonzero(transitions[BIOES.index("B-per")])
    assert [BIOES[i] for i in after_begin] == ["I-per", "E-per"]
    after_end = np.flatnonzero(transitions[BIOES.index("E-per")])
    assert [BIOES[i] for i in after_end] == ["O", "B-per", "S-per"]


def test_constrained_decoding_picks_the_best_valid_path_not_the_argmax():
    probabilities = np.array([
        [0.50, 0.40, 0.05, 0.03, 0.02],  # O, a close second B-per
        [0.05, 0.05, 0.50, 0.10, 0.30],  # I-per: invalid after O
        [0.10, 0.02, 0.03, 0.05, 0.80],  # I-loc: invalid after I-per
    ])
    assert decode_tags(probabilities, BIO, decoding="argmax") == ["O", "I-per", "I-loc"]
    decoded = decode_tags(probabilities, BIO)
    # Repairing the first two words (B-per I-per O: .4 * .5 * .1 = .02) loses to keeping O
    # and repairing the last two (O B-loc I-loc: .5 * .1 * .8 = .04).
    scores = {
        ("B-per", "I-per", "O"): np.log(0.40 * 0.50 * 0.10),
        ("O", "B-loc", "I-loc"): np.log(0.50 * 0.10 * 0.80),
        ("O", "O", "O"): np.log(0.50 * 0.05 * 0.10),
    }
    assert decoded == list(max(scores, key=scores.get)) == ["O", "B-loc", "I-loc"]
    assert decoded == _brute_force(probabilities, BIO)


def test_constrained_decoding_matches_brute_force_and_is_always_valid():
    random = np.random.default_rng(0)
    for tags in (BIO, BIOES):
        for length in (1, 2, 3, 4):
            for _ in range(10):
                probabilities = random.dirichlet(np.full(len(tags), 0.3), size=length)
                decoded = decode_tags(probabilities, tags)
                assert _is_valid(decoded, tags)
                assert decoded == _brute_force(probabilities, tags)


def test_a_valid_argmax_sequence_is_kept():
    probabilities = np.eye(len(BIO))[[1, 2, 0, 3, 4, 4]] * 0.9 + 0.02
    expected = ["B-per", "I-per", "O", "B-loc", "I-loc", "I-loc"]
    assert decode_tags(probabilities, BIO) == decode_tags(probabilities, BIO, "argmax") == expected


def test_tags_of_no_scheme_decode_by_argmax():
    tags = ["O", "PER", "LOC"]
    probabilities = np.array([[0.2, 0.1, 0.7], [0.1, 0.8, 0.1], [0.5, 0.3, 0.2]])
    assert decode_tags(probabilities, tags) == ["LOC", "PER", "O"]
    # A stray I- tag without its B- tag is no BIO scheme either: argmax too.
    assert decode_tags(probabilities, ["O", "I-per", "I-loc"]) == ["I-loc", "I-per", "O"]


def test_empty_sentence_decodes_to_no_tags():
    assert decode_tags(np.zeros((0, len(BIO))), BIO) == []
    assert decode_constrained(np.zeros((0, 3)), *build_transition_masks(BIO[:3])).shape == (0,)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="Received: decoding='viterbi'"):
        decode_tags(np.full((2, 5), 0.2), BIO, decoding="viterbi")
    with pytest.raises(ValueError, match=r"\(words, 5\).*Received: probabilities with shape \(2, 3\)"):
        decode_tags(np.full((2, 3), 0.3), BIO)
    with pytest.raises(ValueError, match=r"Received: log_probabilities with shape \(5,\)"):
        decode_constrained(np.zeros(5), *build_transition_masks(BIO))


def test_invalid_sequences_are_found():
    sequences = [["B-per", "I-per", "O"], ["O", "I-per"], ["I-per"], ["B-per", "I-loc"], [],
                 ["B-loc", "I-loc", "B-per"]]
    assert find_invalid_sequences(sequences, BIO) == [1, 2, 3]
    bioes = [["S-per", "O"], ["B-per", "E-per"], ["B-per", "O"], ["B-per", "I-per"], ["E-per"]]
    assert find_invalid_sequences(bioes, BIOES) == [2, 3, 4]
    assert find_invalid_sequences([["LOC", "PER"]], ["O", "PER", "LOC"]) == []  # no scheme
