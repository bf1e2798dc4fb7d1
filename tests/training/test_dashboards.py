"""Every TensorBoard dashboard tl_suite writes, read back from a real TensorBoard server."""

import json
import re
import socket
import time
import urllib.parse
import urllib.request
import warnings

import numpy as np
import pytest
import tensorflow as tf

import tl_suite
from tl_suite.training.dashboards.mistakes import Mistakes

STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TensorBoardServer:
    """A TensorBoard server in this process on a free loopback port, read through its HTTP
    data API (what the browser reads)."""

    def __init__(self, log_dir):
        from tensorboard import program

        board = program.TensorBoard()
        board.configure(argv=[None, "--logdir", str(log_dir), "--host", "127.0.0.1",
                              "--port", str(_free_port()), "--load_fast", "false",
                              "--reload_interval", "0"])
        self.url = board.launch().rstrip("/")

    def get(self, path, raw=False, **query):
        url = f"{self.url}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        with urllib.request.urlopen(url, timeout=30) as response:
            body = response.read()
        return body if raw else json.loads(body)

    def post(self, path, body):
        request = urllib.request.Request(f"{self.url}{path}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def wait_for(self, plugin, run, deadline=60):
        """The tags of ``plugin`` once ``run`` has some (the server loads the logs at start)."""
        end = time.time() + deadline
        while True:
            tags = self.get(f"/data/plugin/{plugin}/tags")
            if run in tags or time.time() > end:
                return tags
            time.sleep(0.2)

    def texts(self, run, tag):
        return [entry["text"] for entry in self.get("/data/plugin/text/text", run=run, tag=tag)]

    def text(self, run, tag):
        return self.texts(run, tag)[-1]

    def scalar(self, run, tag):
        return self.get("/data/plugin/scalars/scalars", run=run, tag=tag)[-1][2]

    def session_groups(self):
        return self.post("/data/plugin/hparams/session_groups", {
            "experimentName": "", "allowedStatuses": STATUSES, "colParams": [],
            "startIndex": 0, "sliceSize": 100})["sessionGroups"]


def _metric(session, tag):
    return next(value["value"] for value in session["metricValues"] if value["name"]["tag"] == tag)


def test_an_image_fit_fine_tune_evaluation_and_sweep_fill_every_tab(tmp_path, splits, make_model):
    train, validation = splits
    log_dir = str(tmp_path)
    model = make_model(learning_rate=1e-2)
    history = tl_suite.fit(model, train, validation, epochs=2, log_dir=log_dir, verbose=0)
    tuned = make_model(dropout=0.0)
    tl_suite.fine_tune(tuned, train, validation, frozen_epochs=1, epochs=1, log_dir=log_dir, verbose=0)
    result = tl_suite.evaluate(model, validation, log_dir=log_dir, verbose=False)
    assert result["metrics"]["accuracy"] < 1  # there are mistakes to show
    tl_suite.find_learning_rate(model, train, num_steps=8, log_dir=log_dir, verbose=False)
    server = TensorBoardServer(tmp_path)
    scalars = server.wait_for("scalars", "lr_finder")
    listing = server.get("/data/plugins_listing")
    assert all(listing[name]["enabled"] for name in
               ("scalars", "images", "text", "pr_curves", "hparams", "graphs"))

    # HParams: one session per run, with its hyperparameters and best-epoch metrics.
    experiment = server.post("/data/plugin/hparams/experiment", {"experimentName": ""})
    infos = {info["name"]: info for info in experiment["hparamInfos"]}
    assert {"backbone", "learning_rate", "epochs", "batch_size", "dropout", "augmented",
            "image_size", "seed", "cached_features"} <= set(infos)
    # Typed, with the hyperparameters that differ between the runs first (shown by default).
    assert infos["learning_rate"]["type"] == "DATA_TYPE_FLOAT64" and infos["learning_rate"]["differs"]
    assert set(infos["trainer"]["domainDiscrete"]) == {"fit", "fine_tune"}
    assert not infos["backbone"]["differs"]
    metric_tags = [info["name"]["tag"] for info in experiment["metricInfos"]]
    assert {"best/val_loss", "best/val_accuracy", "best/loss", "best/epoch"} <= set(metric_tags[:5])
    sessions = {group["name"]: group for group in server.session_groups()}
    assert set(sessions) == {"run-001", "run-002"}
    fitted, fine_tuned = sessions["run-001"], sessions["run-002"]
    assert fitted["hparams"]["learning_rate"] == pytest.approx(1e-2)
    assert {key: fitted["hparams"][key] for key in ("backbone", "trainer", "task", "image_size",
                                                    "cached_features", "augmented")} == {
        "backbone": "tiny_efficientnet_lite", "trainer": "fit", "task": "classification",
        "image_size": "32x32", "cached_features": True, "augmented": False}
    assert (fitted["hparams"]["epochs"], fitted["hparams"]["batch_size"]) == (2, 8)
    assert _metric(fitted, "best/val_loss") == pytest.approx(min(history.history["val_loss"]), rel=1e-5)
    assert fine_tuned["hparams"]["trainer"] == "fine_tune"
    assert fine_tuned["hparams"]["base_learning_rate"] == pytest.approx(1e-4)
    assert fine_tuned["hparams"]["schedule"] == "one_cycle" and fine_tuned["hparams"]["epochs"] == 2
    # fine_tune's stage marks: numbers in Scalars, the note in Text (one kind per tag).
    assert [value for _, _, value in server.get("/data/plugin/scalars/scalars", run="run-002/train",
                                                 tag="stage")] == [0.0, 1.0]
    notes = server.texts("run-002/train", "stage_note")
    assert len(notes) == 2 and "Stage 1" in notes[0] and "Stage 2" in notes[1]

    # Scalars: test metrics and per-class metrics that do not collide with Keras' names.
    tags = set(scalars["evaluation"])
    assert {"test/accuracy", "test/loss", "test/macro_f1"} <= tags
    assert {f"test/{kind}/{name}" for kind in ("precision", "recall", "f1")
            for name in ("red", "green", "blue")} <= tags
    assert not any(tag.startswith("evaluation_") for tag in tags)
    assert server.scalar("evaluation", "test/accuracy") == pytest.approx(result["metrics"]["accuracy"])
    assert server.scalar("evaluation", "test/recall/green") == pytest.approx(
        result["report_dict"]["green"]["recall"])
    assert {"best/val_loss", "best/epoch"} <= set(scalars["run-001"])

    # Text: the report names the classes.
    report = server.text("evaluation", "test/report")
    assert all(name in report for name in ("red", "green", "blue")) and "<pre>" in report

    # PR curves: one per class; at the lowest threshold every example is predicted positive.
    curves = server.get("/data/plugin/pr_curves/tags")["evaluation"]
    assert set(curves) == {"test/pr_curve/red", "test/pr_curve/green", "test/pr_curve/blue"}
    for index, name in enumerate(["red", "green", "blue"]):
        entry = server.get("/data/plugin/pr_curves/pr_curves", run="evaluation",
                           tag=f"test/pr_curve/{name}")["evaluation"][0]
        assert entry["recall"][0] == pytest.approx(1.0)
        assert entry["precision"][0] == pytest.approx(np.mean(result["y_true"] == index))

    # Images: confusion matrix, calibration, the misclassified grid; the sweep in its own run.
    images = server.get("/data/plugin/images/tags")
    assert {"test/confusion_matrix", "test/reliability_diagram", "test/misclassified"} <= set(
        images["evaluation"])
    assert set(images["lr_finder"]) == {"lr_finder/loss_vs_learning_rate"}
    assert not any(tag.startswith("lr_finder") for tag in images["evaluation"])
    entries = server.get("/data/plugin/images/images", run="evaluation", tag="test/misclassified",
                         sample=0)
    png = server.get(f"/data/plugin/images/individualImage?{entries[0]['query']}", raw=True)
    assert png.startswith(b"\x89PNG") and len(png) > 5000

    # The sweep: loss and learning rate per step, the suggestion and its table as text.
    assert {"lr_finder/loss", "lr_finder/batch_loss", "lr_finder/learning_rate"} <= set(scalars["lr_finder"])
    assert "Suggested learning rate" in server.text("lr_finder", "lr_finder/suggestion")

    # Graphs: the model's graph, with the run's training logs.
    assert server.get("/data/plugin/graphs/info")["run-001/train"]["run_graph"]


def test_a_text_model_shows_its_misclassified_texts(tmp_path, text_spec):
    texts = ["good film", "bad film", "good", "bad", "film is good", "bad bad"] * 2
    labels = [1, 0, 1, 0, 1, 0] * 2
    train = tl_suite.text_dataset(texts=texts, labels=labels, class_names=["neg", "pos"],
                                  batch_size=4, shuffle=False, verbose=False)
    model = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None, seed=0,
                                           wide_tokens=None)  # a random encoder: mistakes to show
    tl_suite.fit(model, train, epochs=1, log_dir=str(tmp_path), verbose=0)
    # A reshuffling dataset: the mistakes are kept with their texts in the one pass.
    test = tl_suite.text_dataset(texts=texts, labels=labels, class_names=["neg", "pos"],
                                 batch_size=4, shuffle=True, verbose=False)
    result = tl_suite.evaluate(model, test, log_dir=str(tmp_path), verbose=False)
    wrong = int(round((1 - result["metrics"]["accuracy"]) * len(texts)))
    assert wrong > 0
    server = TensorBoardServer(tmp_path)
    assert "test/misclassified_texts" in server.wait_for("text", "evaluation")["evaluation"]
    table = server.text("evaluation", "test/misclassified_texts")
    rows = re.findall(r"<tr>\s*<td>(\d+)</td>\s*<td>(.*?)</td>\s*<td>(\w+)</td>\s*<td>(\w+) \((\d\.\d\d)\)</td>",
                      table, flags=re.S)
    assert len(rows) == min(wrong, 20)
    for _, text, true, predicted, confidence in rows:
        assert text in texts and true != predicted and float(confidence) >= 0.5
        assert true == ["neg", "pos"][labels[texts.index(text)]]
    confidences = [float(row[4]) for row in rows]
    assert confidences == sorted(confidences, reverse=True)  # most confident mistake first
    hparams = server.session_groups()[0]["hparams"]
    assert hparams["sequence_length"] == model.preprocessor.sequence_length
    assert hparams["backbone"] == model.backbone_name


def test_a_tagger_shows_per_type_scalars_and_mistagged_sentences(tmp_path, text_spec):
    tags = ["O", "B-loc", "B-animal"]
    sentences = [["paris", "is", "big"], ["good", "fox"], ["paris", "fox"], ["big", "film", "is", "good"]]
    tag_ids = [[1, 0, 0], [0, 2], [1, 2], [0, 0, 0, 0]]
    data = tl_suite.token_dataset(sentences=sentences, tags=[[tags[i] for i in row] for row in tag_ids],
                                  tag_names=tags, batch_size=3, shuffle=False, verbose=False)
    model = tl_suite.build_token_classifier(text_spec, tags=tags, weights=None, seed=0)
    result = tl_suite.evaluate(model, data, log_dir=str(tmp_path), verbose=False)
    server = TensorBoardServer(tmp_path)
    scalars = server.wait_for("scalars", "evaluation")["evaluation"]
    assert {"test/f1", "test/precision/loc", "test/recall/animal", "test/f1/animal"} <= set(scalars)
    assert server.scalar("evaluation", "test/f1/loc") == pytest.approx(result["report_dict"]["loc"]["f1-score"])
    table = server.text("evaluation", "test/mistagged_sentences")
    mistagged = [i for i, (t, p) in enumerate(zip(result["true_tags"], result["predicted_tags"])) if t != p]
    assert mistagged and table.count("<tr>") == len(mistagged) + 1  # + the header
    first = mistagged[0]
    word, true, predicted = next((w, t, p) for w, t, p in zip(
        sentences[first], result["true_tags"][first], result["predicted_tags"][first]) if t != p)
    assert f"<strong>{word}</strong> ({true}→{predicted})" in table


def _batches(outputs, labels, inputs, size):
    for start in range(0, len(labels), size):
        yield inputs[start:start + size], labels[start:start + size], outputs[start:start + size]


def test_mistakes_seen_in_one_pass_or_gathered_afterwards_are_the_same():
    rng = np.random.default_rng(0)
    outputs = rng.dirichlet(np.ones(3), size=50).astype("float32")
    labels = rng.integers(0, 3, size=50)
    images = rng.integers(0, 255, size=(50, 4, 4, 3)).astype("uint8")
    watched = Mistakes("classification", ["a", "b", "c"], limit=5)
    for batch in _batches(outputs, labels, tf.constant(images), 8):
        watched.observe(*batch)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(7)
    gathered = Mistakes("classification", ["a", "b", "c"], limit=5)
    assert gathered.gather(dataset, labels, outputs)
    wrong = np.flatnonzero(outputs.argmax(1) != labels)
    expected = wrong[np.argsort(-outputs[wrong].max(1), kind="stable")][:5]
    for mistakes in (watched, gathered):
        worst = mistakes.worst()
        assert [m.index for m in worst] == expected.tolist()
        for mistake in worst:
            np.testing.assert_array_equal(mistake.inputs, images[mistake.index])
            assert mistake.predicted == outputs[mistake.index].argmax() != mistake.true


def test_gathering_from_a_reshuffled_dataset_warns_and_keeps_nothing():
    labels = np.arange(40) % 4
    outputs = np.eye(4, dtype="float32")[(labels + 1) % 4]  # every prediction wrong
    dataset = tf.data.Dataset.from_tensor_slices((np.arange(40), labels)).shuffle(40, seed=1).batch(8)
    mistakes = Mistakes("classification", list("abcd"))
    with pytest.warns(UserWarning, match="another order.*shuffle=False"):
        assert not mistakes.gather(dataset, labels, outputs)
    assert mistakes.worst() == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Mistakes("regression", []).gather(dataset, labels, outputs)
