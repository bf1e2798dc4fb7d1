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
