"""Explanations on real weights and real data (slow): EfficientNet-Lite0 looks at the garment
pasted on a plain canvas; MiniLM + TF-IDF read a sports article through words of sport."""

import collections
import tempfile

import numpy as np
import pytest
import tensorflow as tf

import tl_suite
from tl_suite.explain.explain import explain
from tl_suite.explain.words import standardized
from tl_suite.inspection.examples import read_examples

pytestmark = pytest.mark.slow
CANVAS, SIDE = 112, 56  # the garment covers a quarter of the canvas


def pasted(images, seed):
    """Each 28x28 Fashion-MNIST image, enlarged to SIDE, at a random place on a black canvas."""
    rng = np.random.default_rng(seed)
    canvases, boxes = np.zeros((len(images), CANVAS, CANVAS), "uint8"), []
    for canvas, image in zip(canvases, images):
        large = tf.image.resize(image[..., np.newaxis].astype("float32"), (SIDE, SIDE)).numpy()[..., 0]
        row, column = rng.integers(0, CANVAS - SIDE + 1, size=2)
        canvas[row:row + SIDE, column:column + SIDE] = np.clip(large, 0, 255).astype("uint8")
        boxes.append((row, column))
    return canvases, boxes


def test_lite0_puts_most_heat_on_the_garment():
    images, labels, names = tl_suite.load_fashion_mnist("train", limit=500)
    canvases, _ = pasted(images, seed=0)
    train = tl_suite.image_dataset(images=canvases, labels=labels, class_names=names, verbose=False)
    model = tl_suite.build_image_classifier("efficientnet_lite0", class_names=names, seed=0)
    tl_suite.fit(model, train, epochs=10, log_dir=tempfile.mkdtemp(), verbose=0,
                 early_stopping_patience=None)
    test_images, test_labels, _ = tl_suite.load_fashion_mnist("test", limit=40)
    test, boxes = pasted(test_images, seed=1)
    fractions, correct = [], []
    for result, (row, column), label in zip(explain(model, test), boxes, test_labels):
        scale = result["heatmap"].shape[0] / CANVAS  # the model's 224 px over the 112 px canvas
        box = result["heatmap"][round(row * scale):round((row + SIDE) * scale),
                                round(column * scale):round((column + SIDE) * scale)]
        fractions.append(box.sum() / result["heatmap"].sum())
        correct.append(result["label"] == names[label])
    fractions, correct = np.array(fractions), np.array(correct)
    print(f"Lite0 Grad-CAM: accuracy {correct.mean():.3f}; heat on the garment: mean "
          f"{fractions.mean():.3f}, correct predictions {fractions[correct].mean():.3f}, "
          f"above half in {(fractions > 0.5).mean():.0%} (area {(SIDE / CANVAS) ** 2:.2f})")
    assert correct.mean() > 0.6
    assert fractions[correct].mean() > 0.6 and (fractions > 0.5).mean() > 0.7


def class_words(examples, name, ratio=3.0, least=2):
    """Words of class ``name``: in at least ``least`` of its texts, and ``ratio`` times more
    frequent there (the share of texts holding them) than in the other classes' texts."""
    frequencies = {True: collections.Counter(), False: collections.Counter()}
    sizes = collections.Counter()
    for text, label in zip(examples.inputs, examples.labels):
        mine = examples.label_names[int(label)] == name
        sizes[mine] += 1
        frequencies[mine].update(set(standardized(text.split())) - {""})
    mine, others = sizes[True], sizes[False]
    return {word for word, count in frequencies[True].items()
            if count >= least and count / mine >= ratio * (frequencies[False][word] + 1) / others}


def test_minilm_reads_sports_articles_through_words_of_sport():
    train, test = tl_suite.text_dataset(directory=tl_suite.bbc_news_path(), validation_split=0.2,
                                        subset="both", seed=1337, verbose=False)
    model = tl_suite.build_text_classifier("minilm_l6", class_names=train.class_names, seed=1337)
    tl_suite.fit(model, train, epochs=10, log_dir=tempfile.mkdtemp(), verbose=0,
                 early_stopping_patience=None)
    sport = class_words(read_examples(train), "sports")  # from the training articles only
    held_out = read_examples(test)
    articles = [text for text, label in zip(held_out.inputs, held_out.labels)
                if held_out.label_names[int(label)] == "sports"][:6]
    shares, base_rates = [], []
    for result in explain(model, articles):
        top = [result["words"][i] for i in np.argsort(-result["attributions"])[:10]]
        shares.append(np.mean([word in sport for word in standardized(top)]))
        base_rates.append(np.mean([word in sport for word in standardized(result["words"])]))
        print(f"{result['label']} {result['probability']:.3f}: {top} ({shares[-1]:.0%} words of "
              f"sport; {base_rates[-1]:.0%} of the article's words)")
        assert result["label"] == "sports" and result["probability"] > 0.8
    assert np.mean(shares) >= 0.5 and min(shares) >= 0.2
    assert np.mean(shares) > 2 * np.mean(base_rates)
