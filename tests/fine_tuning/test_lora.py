import hashlib
import json
import warnings

import h5py
import numpy as np
import pytest

import tl_suite
from tl_suite.fine_tuning.freezing import is_frozen
from tl_suite.models.text_base import enable_lora, lora_layer_paths
from tl_suite.models.text_base import load_frozen_text_base


def test_enable_lora_adapts_query_and_value_and_freezes_their_biases(text_spec):
    _, base, _ = load_frozen_text_base(text_spec, None, 16, seed=0)
    enable_lora(base, None)  # no rank: nothing changes
    assert not lora_layer_paths(base)
    enable_lora(base, 2)
    assert sorted(lora_layer_paths(base)) == [
        f"transformer_layer_{block}/self_attention_layer/{name}"
        for block in (0, 1) for name in ("query", "value")]
    trainable = {w.path.split("/")[-1] for w in base.trainable_weights}
    assert trainable == {"lora_kernel_a", "lora_kernel_b"}  # kernels and biases stay pretrained


def test_lora_trains_adapters_and_head_only(tmp_path, text_spec, text_data):
    texts, _, data = text_data
    spec = text_spec
    model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, lora_rank=2,
                                           learning_rate=5e-2, seed=0)
    names = {w.path.split("/")[-1] for w in model.trainable_weights if "head" not in w.path
             and not w.path.startswith("predictions")}
    assert names == {"lora_kernel_a", "lora_kernel_b"}
    base = {w.path: np.array(w) for w in model.backbone.weights if "lora" not in w.path}
    predictions = model.predict(texts[:4], verbose=0)
    history = tl_suite.fit(model, data, epochs=8, log_dir=str(tmp_path), verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    for weight in model.backbone.weights:  # base weights bitwise unchanged
        if "lora" not in weight.path:
            np.testing.assert_array_equal(base[weight.path], np.array(weight), err_msg=weight.path)
    trained = model.predict(texts[:4], verbose=0)
    assert not np.allclose(predictions, trained)
    lora_b = [w for w in model.backbone.weights if w.path.endswith("lora_kernel_b")]
    assert any(np.abs(np.array(w)).max() > 0 for w in lora_b)  # adapters moved from zero

    # Adapter file: small, and restores the trained behaviour into a fresh model.
    path = tmp_path / "sentiment.lora.h5"
    tl_suite.save_adapter(model, path)
    fresh = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, lora_rank=2, seed=1)
    fresh.backbone.set_weights(model.backbone.get_weights())  # same base "checkpoint"
    for weight in fresh.backbone.weights:
        if "lora" in weight.path:
            weight.assign(np.zeros(weight.shape))
    tl_suite.load_adapter(fresh, path)
    np.testing.assert_allclose(fresh.predict(texts[:4], verbose=0), trained, rtol=1e-5, atol=1e-6)

    # Merged export: no adapter variables, same predictions.
    merged = tl_suite.merge_lora(model)
    assert not any("lora" in w.path for w in merged.weights)
    assert is_frozen(merged)  # like a fresh builder model: only the head trains
    np.testing.assert_allclose(merged.predict(texts[:4], verbose=0), trained, rtol=1e-4, atol=1e-5)


def test_lora_errors(tmp_path, text_spec):
    spec = text_spec
    with pytest.raises(ValueError, match="Received: lora_rank=0"):
        tl_suite.build_text_classifier(spec, num_classes=2, weights=None, lora_rank=0)
    plain = tl_suite.build_text_classifier(spec, num_classes=2, weights=None)
    with pytest.raises(ValueError, match="no LoRA adapters"):
        tl_suite.save_adapter(plain, tmp_path / "x.lora.h5")
    lora = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, lora_rank=2)
    with pytest.raises(ValueError, match="must end in `.lora.h5`"):
        tl_suite.save_adapter(lora, tmp_path / "x.h5")
    tl_suite.save_adapter(lora, tmp_path / "two.lora.h5")
    other_head = tl_suite.build_text_classifier(spec, num_classes=3, weights=None, lora_rank=2)
    with pytest.raises(ValueError, match="same head"):
        tl_suite.load_adapter(other_head, tmp_path / "two.lora.h5")


def _weight_bytes(model):
    return [np.array(weight).tobytes() for weight in model.weights]


def _refuses_and_leaves_unchanged(model, path, match):
    before = _weight_bytes(model)
    with pytest.raises(ValueError, match=match):
        tl_suite.load_adapter(model, path)
    assert _weight_bytes(model) == before  # all or nothing: not one variable assigned


def _random_adapter(tmp_path, spec, num_classes, name):
    """An adapter file with non-zero LoRA and head values (a fresh model's lora_b is zero)."""
    model = tl_suite.build_text_classifier(spec, num_classes=num_classes, weights=None, lora_rank=2,
                                           seed=1)
    rng = np.random.default_rng(0)
    head_paths = {weight.path for weight in model.head.weights}
    for weight in model.weights:
        if "lora" in weight.path or weight.path in head_paths:
            weight.assign(rng.normal(size=weight.shape).astype("float32"))
    path = tmp_path / f"{name}.lora.h5"
    tl_suite.save_adapter(model, path)
    return model, path


def test_load_adapter_is_all_or_nothing(tmp_path, text_spec):
    from tests.fine_tuning.conftest import VOCABULARY
    from tl_suite.backbones.text import tiny_bert_spec

    model = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None, lora_rank=2)
    _, three_classes = _random_adapter(tmp_path, text_spec, 3, "three")
    _refuses_and_leaves_unchanged(model, three_classes, "same head")
    one_layer_spec = tiny_bert_spec(VOCABULARY, num_layers=1)
    _, one_layer = _random_adapter(tmp_path, one_layer_spec, 2, "one_layer")
    _refuses_and_leaves_unchanged(model, one_layer, "number of layers")
    _, two_layers = _random_adapter(tmp_path, text_spec, 2, "two_layers")
    shallow = tl_suite.build_text_classifier(one_layer_spec, num_classes=2, weights=None, lora_rank=2)
    _refuses_and_leaves_unchanged(shallow, two_layers, "the model has 4 LoRA variables, the file 8")
    rank_four = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None, lora_rank=4)
    _refuses_and_leaves_unchanged(rank_four, two_layers, "same lora_rank")

    with h5py.File(two_layers, "r") as store:
        entry = sorted(name for name in store["lora"] if name != "vars")[-1]
        kernel = store[f"lora/{entry}/vars/lora_kernel_b"][()]
    for name, bad in [("nan", np.full_like(kernel, np.nan)), ("int", kernel.astype("int64"))]:
        path = tmp_path / f"{name}.lora.h5"
        path.write_bytes(two_layers.read_bytes())
        with h5py.File(path, "a") as store:
            del store[f"lora/{entry}/vars/lora_kernel_b"]
            store[f"lora/{entry}/vars/lora_kernel_b"] = bad
        _refuses_and_leaves_unchanged(model, path, "NaN or infinite" if name == "nan" else "int64")
    not_adapter = tmp_path / "not.lora.h5"
    not_adapter.write_bytes(b"not an hdf5 file")
    _refuses_and_leaves_unchanged(model, not_adapter, "not an adapter file")

    tl_suite.load_adapter(model, two_layers)  # a fitting file loads every value exactly
    with h5py.File(two_layers, "r") as store:
        for index, weight in enumerate(model.head.weights):
            np.testing.assert_array_equal(np.array(weight), store[f"tl_suite_head/{index}"][()])
    source = {w.path: np.array(w) for w in _random_adapter(tmp_path, text_spec, 2, "again")[0].weights}
    for weight in model.weights:
        if "lora" in weight.path:
            np.testing.assert_array_equal(np.array(weight), source[weight.path], err_msg=weight.path)


def test_adapters_record_the_vocabulary_and_refuse_another(tmp_path, text_spec):
    from tests.fine_tuning.conftest import VOCABULARY
    from tl_suite.backbones.text import tiny_bert_spec
    from tl_suite.fine_tuning.lora import vocabulary_fingerprint

    source, path = _random_adapter(tmp_path, text_spec, 2, "source")
    with h5py.File(path, "r") as store:
        recorded = (store.attrs["tl_suite_vocabulary_sha256"], int(store.attrs["tl_suite_vocabulary_size"]))
    expected = hashlib.sha256(json.dumps(VOCABULARY).encode("utf-8")).hexdigest()
    assert recorded == vocabulary_fingerprint(source) == (expected, len(VOCABULARY))

    # Same size and shapes, two tokens swapped: only the fingerprint tells them apart.
    swapped = VOCABULARY[:5] + [VOCABULARY[6], VOCABULARY[5]] + VOCABULARY[7:]
    other = tl_suite.build_text_classifier(tiny_bert_spec(swapped), num_classes=2, weights=None,
                                           lora_rank=2)
    _refuses_and_leaves_unchanged(other, path, "another tokenizer vocabulary \\(10 tokens, sha256")

    same = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None, lora_rank=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a recorded, matching vocabulary loads silently
        tl_suite.load_adapter(same, path)

    older = tmp_path / "older.lora.h5"  # saved before fingerprints: loads, with a warning
    older.write_bytes(path.read_bytes())
    with h5py.File(older, "a") as store:
        del store.attrs["tl_suite_vocabulary_sha256"], store.attrs["tl_suite_vocabulary_size"]
    fresh = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None, lora_rank=2)
    with pytest.warns(UserWarning, match="records no tokenizer vocabulary"):
        tl_suite.load_adapter(fresh, older)
    head = {w.path: np.array(w) for w in source.head.weights}
    for weight in fresh.head.weights:
        np.testing.assert_array_equal(np.array(weight), head[weight.path])

    malformed = tmp_path / "malformed.lora.h5"
    malformed.write_bytes(path.read_bytes())
    with h5py.File(malformed, "a") as store:
        store.attrs["tl_suite_vocabulary_sha256"] = "abc"
    _refuses_and_leaves_unchanged(same, malformed, "malformed vocabulary fingerprint")


def test_save_adapter_replaces_the_file_only_when_complete(tmp_path, text_spec, monkeypatch):
    model, path = _random_adapter(tmp_path, text_spec, 2, "kept")
    before = path.read_bytes()

    def interrupted(self, filepath):
        open(filepath, "wb").write(b"half an hdf5 file")
        raise KeyboardInterrupt

    monkeypatch.setattr(type(model.backbone), "save_lora_weights", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tl_suite.save_adapter(model, path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["kept.lora.h5"]
