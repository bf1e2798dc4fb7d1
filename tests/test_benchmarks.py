"""Slow: every benchmark script runs end to end on a small slice of its real data (real weights).

These check that the scripts work and print sane figures; the figures themselves (speed ratios,
accuracies at full size) are measured by running the scripts with their defaults.
"""

import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"
pytestmark = pytest.mark.slow


def _run(script, *arguments):
    result = subprocess.run([sys.executable, str(BENCHMARKS / script), *map(str, arguments)],
                            capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _numbers(pattern, text):
    found = re.findall(pattern, text)
    assert found, f"{pattern!r} not in:\n{text}"
    return [float(value) for value in found]


def test_every_benchmark_is_covered():
    covered = {"frozen_image_speed", "frozen_text_speed", "pipeline_throughput", "text_padding",
               "image_accuracy", "text_accuracy", "text_baselines", "ner_accuracy", "fine_tune_gain",
               "robustness", "export_latency"}
    scripts = {path.stem for path in BENCHMARKS.glob("*.py") if not path.stem.startswith("_")}
    assert scripts == covered  # _common.py holds shared helpers


def test_frozen_image_speed():
    out = _run("frozen_image_speed.py", "--train-size", 200, "--test-size", 100, "--epochs", 3)
    accuracies = _numbers(r"test accuracy (\d\.\d+)", out)
    assert len(accuracies) == 2 and all(0.3 < a <= 1 for a in accuracies)  # 10 classes: chance 0.1
    assert _numbers(r"speed-up tl_suite vs keras.io loop: ([\d.]+)x", out)[0] > 0
    assert _numbers(r"tl_suite time / bare backbone pass: ([\d.]+)x", out)[0] > 0
    assert _numbers(r"bare backbone pass over (\d+) images", out) == [300.0]


def test_image_accuracy_on_committed_subset():
    out = _run("image_accuracy.py", "--source", "subset", "--train-size", 300, "--test-size", 200,
               "--epochs", 5)
    suite, = _numbers(r"dense head: test accuracy (\d\.\d+)", out)
    baseline, = _numbers(r"logistic regression on the same frozen features: test accuracy (\d\.\d+)", out)
    assert suite > 0.4 and baseline > 0.4
    assert "ankle boot" in out  # the classification report names the classes


def test_pipeline_throughput():
    out = _run("pipeline_throughput.py", "--images", 64, "--epochs", 1, "--rounds", 1)
    assert len(_numbers(r"(?:files|memory)\s+steps/s\s+epoch 1: ([\d.]+)", out)) == 2
    assert _numbers(r"files / memory = ([\d.]+)", out)[0] > 0


def test_text_padding_shares_and_rates():
    out = _run("text_padding.py", "--batches", 3, "--epochs", 1)
    shares = dict(re.findall(r"(fixed|dynamic|bucketed)\s+[\d,]+ word pieces in [\d,]+ positions \((\d+)% real\)", out))
    assert set(shares) == {"fixed", "dynamic", "bucketed"}
    # Tweets are far shorter than 128 pieces: padding to the longest in the batch wastes less.
    assert int(shares["fixed"]) < int(shares["dynamic"]) <= int(shares["bucketed"])
    assert len(_numbers(r"vs fixed padding: ([\d.]+)x", out)) == 2


def test_frozen_text_speed():
    out = _run("frozen_text_speed.py", "--max-examples", 100, "--epochs", 2, "--long-epochs", 4)
    accuracies = _numbers(r"test accuracy (\d\.\d+)", out)
    assert len(accuracies) == 4 and all(0 <= a <= 1 for a in accuracies)  # 2 keras-hub, 2 tl_suite
    assert "keras-hub frozen BertTextClassifier.fit (2 epochs, 256 tokens)" in out


def test_text_accuracy():
    out = _run("text_accuracy.py", "--max-examples", 200, "--sequence-lengths", 64, "--windows", 32, 3,
               "--epochs", 10)
    tfidf, = _numbers(r"TF-IDF \+ logistic regression: test accuracy (\d\.\d+)", out)
    suite, = _numbers(r", 64 tokens, \d+ head epochs \(early stopping, at most 10\): test accuracy (\d\.\d+)", out)
    windowed, = _numbers(r"up to 3 windows of 32 tokens, \d+ head epochs .*?: test accuracy (\d\.\d+)", out)
    assert tfidf > 0.5 and suite > 0.5 and windowed > 0.5  # 5 classes: chance 0.2


def test_text_baselines_on_every_corpus():
    out = _run("text_baselines.py", "--max-examples", 160, "--seeds", 1, 2, "--epochs", 5)
    table = re.findall(r"^(bbc|spam|movies) \| (\d\.\d+) \| (\d\.\d+) \| (\d\.\d+) \| (\d+\.\d+)x / (\d+\.\d+)x "
                       r"\| (held|NOT held)$", out, flags=re.MULTILINE)
    assert [row[0] for row in table] == ["bbc", "spam", "movies"]
    for _, baseline, mean, spread, ratio, cpu_ratio, _ in table:
        assert float(baseline) > 0.45 and float(mean) > 0.45  # chance: 0.2 / ~0.5
        assert float(ratio) > 0 and float(cpu_ratio) > 0
    seeds = _numbers(r"default \(encoder \+ TF-IDF branch\)\s+(\d\.\d+)", out)
    assert len(seeds) == 6  # two seeds on each corpus


def test_ner_accuracy():
    out = _run("ner_accuracy.py", "--max-examples", 120, "--frozen-epochs", 3,
               "--unfrozen-epochs", 1)
    scores = _numbers(r"entity F1 (\d\.\d+)", out)
    assert len(scores) == 2 and all(0 <= f <= 1 for f in scores)
    assert "precision" in out  # seqeval's per-type table


def test_fine_tune_gain():
    out = _run("fine_tune_gain.py", "--image-train", 96, "--image-test", 64, "--head-epochs", 2,
               "--image-frozen-epochs", 1, "--image-epochs", 1, "--ner-head-epochs", 1,
               "--ner-epochs", 1, "--lora-epochs", 1, "--bbc-head-epochs", 1, "--bbc-epochs", 1,
               "--bbc-seeds", 1, 2, "--ner-seeds", 1, "--max-examples", 60)
    rows = re.findall(r"^  (frozen base \+ head|fine_tune \([^)]*\)|LoRA rank \d+ \+ head)\s+(\d\.\d{4})\s",
                      out, re.MULTILINE)
    assert [name.split(" (")[0] for name, _ in rows] == [
        "frozen base + head", "fine_tune", "frozen base + head", "fine_tune", "LoRA rank 8 + head",
        "frozen base + head", "fine_tune", "frozen base + head", "fine_tune"]
    assert all(0 <= float(score) <= 1 for _, score in rows)
    frozen, tuned = (np.mean([float(score) for name, score in rows[5:][i::2]]) for i in (0, 1))
    means, = re.findall(r"mean of 2 seeds: frozen (\d\.\d{4}) .*fine_tune (\d\.\d{4})", out)
    assert np.allclose([float(m) for m in means], [frozen, tuned], atol=2e-4)  # the BBC means are of the seed rows
    assert "adapter file" in out and "peak memory" in out


def test_robustness_quick():
    out = _run("robustness.py", "--quick")  # exits non-zero when a row is not held
    rows = re.findall(r"^\| (.+?) \| .+ \| (held|NOT HELD) \|$", out, re.MULTILINE)
    assert len(rows) >= 15 and all(held == "held" for _, held in rows), out
    assert "kill -9 at random moments (cached path)" in dict(rows)
    assert _numbers(r"kills survived \(cached\): (\d+)", out) == [1.0]


def test_export_latency_quick():
    out = _run("export_latency.py", "--quick")
    rows = re.findall(r"^(image|text) \| (keras|saved model|tflite [\w ]+?) \| ([\d.]+) \([\d.]+-[\d.]+\) \| "
                      r"([\d.]+) \| ([\d.]+) \| (\d\.\d{4}) \|$", out, re.MULTILINE)
    artifacts = ["keras", "saved model", "tflite float32", "tflite float16", "tflite dynamic int8", "tflite int8"]
    assert [(kind, name) for kind, name, *_ in rows] == [(k, a) for k in ("image", "text") for a in artifacts], out
    for kind, name, latency, rate, size, accuracy in rows:
        assert float(latency) > 0 and float(rate) > 0 and float(size) > 0
        assert 0.2 < float(accuracy) <= 1, (kind, name, accuracy)  # 10 / 5 classes: chance 0.1 / 0.2
    accuracy = {(kind, name): float(value) for kind, name, *_, value in rows}
    assert accuracy[("image", "tflite float32")] == accuracy[("image", "keras")]  # same function
    assert len(re.findall(r"^goal: .+ -> (held|NOT held)$", out, re.MULTILINE)) == 7
    assert "tokenization outside" in out and out.count("TFLite check of") == 8


def test_export_latency_int8_seeds_quick():
    out = _run("export_latency.py", "--quick", "--int8-seeds", 1, 2)
    changes = _numbers(r"(?m)^  seed \d+: Keras [\d.]+, int8 [\d.]+ \(([+-][\d.]+) points", out)
    assert len(changes) == 2 and all(abs(change) <= 100 for change in changes)
    mean = _numbers(r"(?m)^goal: image int8 TFLite accuracy lost <= 1 point, mean of 2 seeds: ([+-][\d.]+) points", out)
    assert mean == [pytest.approx(-np.mean(changes), abs=0.006)]


def test_export_latency_calibration_seeds_quick():
    out = _run("export_latency.py", "--quick", "--calibration-seeds", 1, 2, "--models", "text")
    rows = re.findall(r"(?m)^  text seed \d+: ([\d.]+) -> ([\d.]+) \(temperature ([\d.]+); a perfectly "
                      r"calibrated model shows ([\d.]+)-([\d.]+) on these (\d+) examples\)$", out)
    assert len(rows) == 2, out
    for before, after, temperature, low, high, examples in rows:
        assert 0 <= float(low) <= float(high) <= 1 and 0 <= float(before) <= 1 and 0 <= float(after) <= 1
        assert float(temperature) > 0 and int(examples) == 30  # 20% of the 150 articles
    before, after = (np.mean([float(row[i]) for row in rows]) for i in (0, 1))
    mean = re.findall(r"(?m)^goal: text expected calibration error lower after calibration, mean of 2 "
                      r"seeds: ([\d.]+) -> ([\d.]+) -> (held|NOT held)$", out)
    assert [tuple(map(float, mean[0][:2]))] == [pytest.approx((before, after), abs=6e-5)]
