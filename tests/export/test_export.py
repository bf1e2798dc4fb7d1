"""`export`: checks its arguments before writing anything, and hands TFLite to its converter."""

import sys
import types

import keras
import pytest

import tl_suite
from tl_suite.export import export


@pytest.fixture
def image_model():
    return tl_suite.build_image_classifier("tiny_efficientnet_lite", class_names=["cat", "dog"], weights=None)


def test_export_refuses_what_it_cannot_serve(tmp_path, image_model):
    plain = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="Received: model=Sequential"):
        export(plain, tmp_path / "plain")
    with pytest.raises(ValueError, match="Received: format='onnx'"):
        export(image_model, tmp_path / "x", format="onnx")
    with pytest.raises(ValueError, match="format='tflite' only.*Received: quantization='int8'"):
        export(image_model, tmp_path / "x", quantization="int8")
    with pytest.raises(ValueError, match="Received: text_pairs=True"):
        export(image_model, tmp_path / "x", text_pairs=True)
    with pytest.raises(ValueError, match="Received: threshold=1.5"):
        export(image_model, tmp_path / "x", threshold=1.5)
    with pytest.raises(ValueError, match="Received: threshold=0.3, format='tflite'"):
        export(image_model, tmp_path / "x.tflite", format="tflite", threshold=0.3)
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.tflite").exists()


def test_tflite_goes_to_its_converter_and_gets_a_card(tmp_path, image_model, monkeypatch):
    calls = []

    def fake_export_tflite(model, path, quantization=None, representative_data=None):
        calls.append((model, path, quantization, representative_data))
        with open(path, "wb") as file:
            file.write(b"TFL3")
        return str(path)

    module = types.ModuleType("tl_suite.export.tflite")
    module.export_tflite = fake_export_tflite
    monkeypatch.setitem(sys.modules, "tl_suite.export.tflite", module)
    written = export(image_model, tmp_path / "pets.tflite", format="tflite", quantization="float16",
                     representative_data="data")
    assert written == str(tmp_path / "pets.tflite")
    assert calls == [(image_model, tmp_path / "pets.tflite", "float16", "data")]
    card = (tmp_path / "MODEL_CARD.md").read_text()
    assert "- Artifact: `pets.tflite` beside this card (tflite, quantization float16)" in card
