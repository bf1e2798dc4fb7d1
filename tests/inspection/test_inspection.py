"""show_batch, show_results, top_losses, plot_top_losses and most_confused on image, text and
NER models, checked against predictions computed apart (model.predict, evaluate)."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from matplotlib.figure import Figure

import tl_suite
from tl_suite.backbones.text import tiny_bert_spec
from tl_suite.inspection.examples import predict_examples, read_examples
from tl_suite.inspection.figures import WRONG
from tl_suite.inspection.most_confused import most_confused
from tl_suite.inspection.show_batch import show_batch
from tl_suite.inspection.show_results import show_results
from tl_suite.inspection.top_losses import plot_top_losses, top_losses

COLORS = ["red", "green", "blue"]
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film", "paris", "is",
         "big", "john", "lives", "in", "##s"]


def _logged_tags(log_dir):
    tags = set()
    for events in log_dir.rglob("events.out.tfevents.*"):
        tags |= {value.tag for event in tf.compat.v1.train.summary_iterator(str(events))
                 for value in event.summary.value}
    return tags


@pytest.fixture
def image_data(tiny_arrays):
    images, labels = tiny_arrays
    data = tl_suite.image_dataset(images=images[:24], labels=labels[:24], class_names=COLORS,
                                  batch_size=8, shuffle=False, verbose=False)
    return images[:24], labels[:24], data


@pytest.fixture(scope="module")
def image_model():
    return tl_suite.build_image_classifier("tiny_efficientnet_lite", class_names=COLORS,
                                           weights=None, seed=3)


@pytest.fixture(scope="module")
def text_model():
    return tl_suite.build_text_classifier(tiny_bert_spec(WORDS), class_names=["neg", "pos"],
                                          weights=None, seed=3)  # with its TF-IDF branch


@pytest.fixture(scope="module")
def tagger():
    return tl_suite.build_token_classifier(tiny_bert_spec(WORDS), weights=None, seed=3,
                                           tags=["O", "B-loc", "I-loc", "B-per"])


TEXTS = ["good film", "bad film", "good good films", "bad", "paris is big film", "film"]
TEXT_LABELS = ["pos", "neg", "pos", "neg", "pos", "neg"]
SENTENCES = [["john", "lives", "in", "paris"], ["paris", "is", "big"], ["good", "film"],
             ["john", "is", "in", "big", "paris"]]
SENTENCE_TAGS = [["B-per", "O", "O", "B-loc"], ["B-loc", "O", "O"], ["O", "O"],
                 ["B-per", "O", "O", "B-loc", "I-loc"]]


def _text_data():
    return tl_suite.text_dataset(texts=TEXTS, labels=TEXT_LABELS, class_names=["neg", "pos"],
                                 batch_size=4, shuffle=False, verbose=False)


def _token_data():
    return tl_suite.token_dataset(sentences=SENTENCES, tags=SENTENCE_TAGS, batch_size=3,
                                  tag_names=["O", "B-loc", "I-loc", "B-per"], shuffle=False,
                                  verbose=False)


def test_show_batch_draws_images_texts_and_tagged_sentences_with_their_labels(image_data, tmp_path):
    images, labels, data = image_data
    figure = show_batch(data, max_examples=5, log_dir=str(tmp_path))
    assert isinstance(figure, Figure) and len(figure.axes) == 5
    assert [axis.get_title() for axis in figure.axes] == [COLORS[i] for i in labels[:5]]
    np.testing.assert_array_equal(figure.axes[0].images[0].get_array(), images[0])
    assert "show_batch" in _logged_tags(tmp_path)
    texts = [t.get_text() for t in show_batch(_text_data(), max_examples=3).axes[0].texts]
    assert texts == ["text", "label", "good film", "pos", "bad film", "neg", "good good films", "pos"]
    words = [t.get_text() for t in show_batch(_token_data(), max_examples=1).axes[0].texts]
    assert words == ["john", "B-per", "lives", "in", "paris", "B-loc"]


def test_read_examples_gives_back_what_the_batches_hold():
    examples = read_examples(_token_data())
    assert examples.kind == "tokens" and examples.inputs == SENTENCES
    tags = examples.label_names
    assert [[tags[t] for t in row] for row in examples.labels] == SENTENCE_TAGS


def test_top_losses_of_an_image_model_match_its_predictions(image_data, image_model, tmp_path):
    images, labels, data = image_data
    probabilities = image_model.predict(images, verbose=0)
    losses = -np.log(probabilities[np.arange(len(labels)), labels])
    rows = top_losses(image_model, data, k=5)
    assert [row["index"] for row in rows] == list(np.argsort(-losses, kind="stable")[:5])
    for row in rows:
        index = row["index"]
        np.testing.assert_array_equal(row["input"], images[index])
        assert row["true"] == COLORS[labels[index]]
        assert row["predicted"] == COLORS[probabilities[index].argmax()]
        assert row["loss"] == pytest.approx(losses[index], rel=1e-4)
        assert row["probability"] == pytest.approx(probabilities[index].max(), rel=1e-4)
        assert row["correct"] == (row["true"] == row["predicted"])
    figure = plot_top_losses(image_model, data, k=4, log_dir=str(tmp_path))
    titles = [axis.get_title() for axis in figure.axes]
    first = rows[0]
    assert titles[0] == f"#{first['index']} {first['true']} / {first['predicted']} {first['probability']:.2f}"
    assert len(titles) == 4 and "top_losses" in _logged_tags(tmp_path)


def test_most_confused_counts_the_confusion_matrix_off_its_diagonal(image_data, image_model):
    _, _, data = image_data
    matrix = tl_suite.evaluate(image_model, data, verbose=False)["confusion_matrix"]
    expected = sorted(((COLORS[i], COLORS[j], int(matrix[i, j])) for i in range(3) for j in range(3)
                       if i != j and matrix[i, j]), key=lambda pair: (-pair[2], pair[0], pair[1]))
    assert most_confused(image_model, data) == expected
    assert most_confused(image_model, data, min_count=100) == []


def test_show_results_marks_wrong_predictions_in_red(image_data, image_model, tmp_path):
    images, labels, data = image_data
    predicted = image_model.predict(images[:6], verbose=0).argmax(axis=1)
    figure = show_results(image_model, data, max_examples=6, log_dir=str(tmp_path))
    for axis, label, guess in zip(figure.axes, labels, predicted):
        assert axis.get_title().startswith(f"{COLORS[label]} / {COLORS[guess]} ")
        assert (axis.title.get_color() == WRONG) == (label != guess)
    assert "show_results" in _logged_tags(tmp_path)


def test_text_inspection_shows_the_texts_and_their_losses(text_model):
    probabilities = text_model.predict(TEXTS, verbose=0)
    truth = [["neg", "pos"].index(label) for label in TEXT_LABELS]
    losses = -np.log(probabilities[np.arange(len(TEXTS)), truth])
    rows = top_losses(text_model, _text_data(), k=len(TEXTS))
    assert [row["input"] for row in rows] == [TEXTS[i] for i in np.argsort(-losses, kind="stable")]
    assert [row["loss"] for row in rows] == pytest.approx(sorted(losses, reverse=True), rel=1e-4)
    table = [t.get_text() for t in show_results(text_model, _text_data(), max_examples=2).axes[0].texts]
    assert table[:5] == ["text", "true", "predicted", "probability", "loss"]
    assert table[5:7] == ["good film", "pos"] and table[7] == ["neg", "pos"][probabilities[0].argmax()]


def test_tagger_inspection_works_per_sentence_and_per_word(tagger):
    data = _token_data()
    evaluation = tl_suite.evaluate(tagger, data, verbose=False, decoding="argmax")
    predicted = tl_suite.predict_tags(tagger, SENTENCES, decoding="argmax")
    assert evaluation["predicted_tags"] == predicted
    rows = sorted(top_losses(tagger, data, k=4, decoding="argmax"), key=lambda row: row["index"])
    assert [row["input"] for row in rows] == SENTENCES
    assert [row["true"] for row in rows] == SENTENCE_TAGS
    assert [row["predicted"] for row in rows] == predicted
    pairs = {}
    for truth, guess in zip(sum(SENTENCE_TAGS, []), sum(predicted, [])):
        if truth != guess:
            pairs[(truth, guess)] = pairs.get((truth, guess), 0) + 1
    confused = most_confused(tagger, data, decoding="argmax")
    assert {(t, p): c for t, p, c in confused} == pairs
    assert [c for _, _, c in confused] == sorted(pairs.values(), reverse=True)
    figure = show_results(tagger, data, max_examples=1, decoding="argmax")
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert texts[0] == "#0 true" and "john" in texts and "B-per" in texts


def test_sentence_loss_is_the_mean_cross_entropy_of_its_words(tagger):
    examples = predict_examples(tagger, _token_data())
    tags = examples.label_names
    rows = top_losses(tagger, _token_data(), k=4)
    for row in rows:
        probabilities = examples.probabilities[row["index"]]
        truth = [tags.index(tag) for tag in row["true"]]
        expected = -np.mean(np.log(probabilities[np.arange(len(truth)), truth]))
        assert row["loss"] == pytest.approx(expected, rel=1e-6)
        assert probabilities.shape == (len(row["input"]), len(tags))


def test_inspection_errors_name_the_argument(image_data, image_model, text_model):
    _, _, data = image_data
    with pytest.raises(ValueError, match=r"Received: max_examples=0"):
        show_batch(data, max_examples=0)
    with pytest.raises(ValueError, match=r"Received: k=0"):
        top_losses(image_model, data, k=0)
    with pytest.raises(ValueError, match=r"model reads text but `dataset` holds image"):
        top_losses(text_model, data)
    tokenized = tl_suite.text_dataset(texts=TEXTS, labels=TEXT_LABELS, tokenize=True,
                                      backbone=tiny_bert_spec(WORDS), verbose=False)
    with pytest.raises(ValueError, match=r"tokenize=True"):
        show_batch(tokenized)
    regressor = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=1,
                                                task="regression", weights=None)
    with pytest.raises(ValueError, match=r"Received: a regression model"):
        most_confused(regressor, data)
    with pytest.raises(ValueError, match=r"Received: model=Sequential"):
        top_losses(keras.Sequential(), data)
