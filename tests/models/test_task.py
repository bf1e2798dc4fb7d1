"""The model contract (`TransferModel`) holds for every kind of tl_suite model."""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import tl_suite
from tl_suite.models.metrics import MaskedAccuracy
from tl_suite.models.task import TransferModel
from tl_suite.preprocessing.image import ImagePreprocessor
from tl_suite.preprocessing.text import TextPreprocessor
from tl_suite.preprocessing.tokens import TokenClassifierPreprocessor
from tl_suite.preprocessing.windows import WindowedTextPreprocessor

KINDS = ("image_classification", "image_multi_label", "image_regression", "text_classifier",
         "text_multi_label", "text_regressor", "windowed_text", "token_classifier")
TASK = {"image_classification": "classification", "image_multi_label": "multi_label",
        "image_regression": "regression", "text_classifier": "classification",
        "text_multi_label": "multi_label", "text_regressor": "regression",
        "windowed_text": "classification", "token_classifier": "token_classification"}
LABELS = {"image_classification": ["cat", "dog", "fox"],
          "image_multi_label": ["red", "green", "blue", "dark"],
          "image_regression": ["brightness", "redness"], "text_classifier": ["negative", "positive"],
          "text_multi_label": ["film", "place", "weather"], "text_regressor": ["rating"],
          "windowed_text": ["negative", "positive"], "token_classifier": ["O", "B-loc", "I-loc"]}
PREPROCESSOR = {"image_classification": ImagePreprocessor, "image_multi_label": ImagePreprocessor,
                "image_regression": ImagePreprocessor, "text_classifier": TextPreprocessor,
                "text_multi_label": TextPreprocessor, "text_regressor": TextPreprocessor,
                "windowed_text": WindowedTextPreprocessor,
                "token_classifier": TokenClassifierPreprocessor}
DEFAULT_METRICS = {
    "classification": [("SparseCategoricalAccuracy", "accuracy")],
    "multi_label": [("BinaryAccuracy", "binary_accuracy"), ("AUC", "auc")],
    "regression": [("MeanAbsoluteError", "mae"), ("RootMeanSquaredError", "rmse")],
    "token_classification": [("MaskedAccuracy", "accuracy")],
}


def _metric_names(model):
    return [(m["class_name"], m["config"]["name"]) for m in model.get_compile_config()["metrics"]]


@pytest.mark.parametrize("kind", KINDS)
def test_every_model_has_the_contract_parts(built_models, kind):
    model = built_models(kind)
    assert isinstance(model, TransferModel) and isinstance(model, keras_hub.models.Task)
    assert isinstance(model.backbone, keras.Model) and model.backbone.trainable is False
    if kind.startswith("image"):
        assert model.backbone.name == "backbone" and model.backbone_name == "tiny_efficientnet_lite"
    else:
        assert isinstance(model.backbone, keras_hub.models.Backbone)
        assert model.backbone_name == "tiny_bert"
    assert type(model.preprocessor) is PREPROCESSOR[kind]
    assert model.head is model.get_layer("head") and isinstance(model.head, keras.Model)
    assert model.pool is model.get_layer("pool")
    assert model.task == TASK[kind]
    assert model.num_outputs == len(LABELS[kind]) == model.head.output_shape[-1]
    assert model.label_names == model.class_names == LABELS[kind]
    if kind == "token_classifier":
        assert model.tag_names == model.tags == LABELS[kind]
    assert model.max_windows == (3 if kind == "windowed_text" else 1)


@pytest.mark.parametrize("kind", KINDS)
def test_layer_groups_cover_the_base_stem_first(built_models, kind):
    model = built_models(kind)
    groups = model.layer_groups
    names = [name for name, _ in groups]
    members = [member for _, group in groups for member in group]
    assert len(names) == len(set(names)) >= 3 and all(group for _, group in groups)
    assert names[0] == ("stem" if kind.startswith("image") else "embeddings")
    assert names[-1] == ("top" if kind.startswith("image") else "transformer_layer_1")
    with_weights = {layer.name for layer in model.backbone.layers if layer.weights}
    assert len(members) == len(set(members)) and set(members) <= with_weights
    if kind.startswith("image"):
        assert set(members) == with_weights
    else:  # the unused BERT pooler belongs to no group (mean pooling)
        assert with_weights - set(members) == {"pooled_dense"}
    assert model.get_config()["layer_groups"] == [[name, group] for name, group in groups]


@pytest.mark.parametrize("kind", KINDS)
def test_compile_defaults_follow_the_task(build_model, kind):
    model = build_model(kind)
    task = TASK[kind]
    assert _metric_names(model) == DEFAULT_METRICS[task]
    if task == "token_classification":
        assert isinstance(model.loss, keras.losses.SparseCategoricalCrossentropy)
        assert model.loss.get_config()["ignore_class"] == -1
    else:
        assert model.loss == {"classification": "sparse_categorical_crossentropy",
                              "multi_label": "binary_crossentropy",
                              "regression": "mean_squared_error"}[task]
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(model.learning_rate)
    # Overrides are kept; "auto" again gives the defaults back, with fresh metric objects.
    model.compile(optimizer="sgd", loss="mean_absolute_error", metrics=[])
    assert model.loss == "mean_absolute_error" and isinstance(model.optimizer, keras.optimizers.SGD)
    model.compile()
    assert _metric_names(model) == DEFAULT_METRICS[task]
    assert model.default_metrics()[0] is not model.default_metrics()[0]


def test_text_classifier_learning_rate_defaults(text_spec):
    assert tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None).learning_rate == 1e-2
    lora = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None, lora_rank=2)
    assert lora.learning_rate == 1e-3
    assert float(lora.optimizer.learning_rate) == pytest.approx(1e-3)


def test_multi_label_auc_knows_its_number_of_labels(built_models):
    auc = built_models("image_multi_label").default_metrics()[1]
    assert isinstance(auc, keras.metrics.AUC) and auc.multi_label and auc.num_labels == 4


def test_masked_accuracy_ignores_positions_labelled_minus_one():
    metric = MaskedAccuracy()
    y_true = np.array([[-1, 1, 0, -1], [-1, 2, 2, -1]])
    y_pred = np.eye(3)[[[0, 1, 1, 0], [0, 2, 0, 1]]]  # right, wrong, right, wrong on labelled ones
    metric.update_state(y_true, y_pred)
    assert float(metric.result()) == pytest.approx(0.5)


@pytest.mark.parametrize("kind", ["image_classification", "text_multi_label", "token_classifier"])
def test_label_names_setter_validates_and_is_saved_in_the_config(build_model, kind):
    model = build_model(kind)
    count = model.num_outputs
    with pytest.raises(ValueError, match=f"must be {count} distinct names.*Received: label_names"):
        model.label_names = ["only_one"]
    with pytest.raises(ValueError, match="distinct"):
        model.label_names = ["same"] * count
    assert model.label_names == LABELS[kind]  # unchanged by a refused value
    model.label_names = [f"name{i}" for i in range(count)]
    assert model.class_names == [f"name{i}" for i in range(count)]
    assert model.get_config()["label_names"] == model.label_names
    model.label_names = None
    assert model.class_names is None and model.get_config()["label_names"] is None


def test_label_names_are_strings(build_model):
    model = build_model("image_classification")
    model.label_names = [3, 1, 2]
    assert model.label_names == ["3", "1", "2"]


@pytest.mark.parametrize("kind", KINDS)
def test_features_model_output_is_what_the_head_receives(built_models, inputs_of, kind):
    model = built_models(kind)
    x, _ = model.prepare(model.preprocessor.coerce(inputs_of(kind)))
    features_model = model.features_model()
    assert [tuple(t.shape) for t in tf.nest.flatten(features_model.inputs)] == \
           [tuple(t.shape) for t in tf.nest.flatten(model.inputs)]
    assert features_model.trainable_weights == []  # the frozen part
    features = features_model(x)
    expected = keras.ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.head(features)), expected,
                               rtol=1e-5, atol=1e-6)
    if kind.startswith("image"):  # text models: test_saving.py compares predict with this
        np.testing.assert_allclose(model.predict(inputs_of(kind), verbose=0), expected,
                                   rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["image_classification", "text_classifier", "windowed_text",
                                  "token_classifier"])
def test_prepare_turns_a_raw_batch_into_model_inputs_and_labels(built_models, training_data, kind):
    model = built_models(kind)
    x_raw, y_raw = training_data(kind)
    x, y = model.prepare(x_raw, y_raw)
    if kind.startswith("image"):
        assert tuple(x.shape) == (6, 32, 32, 3) and x.dtype == tf.float32
        assert -1.0 <= float(tf.reduce_min(x)) and float(tf.reduce_max(x)) <= 1.0
        np.testing.assert_array_equal(y, y_raw)
    elif kind == "token_classifier":
        first_pieces = x["token_ids"].numpy()[y.numpy() >= 0]
        assert y.shape == x["token_ids"].shape and sorted(set(y.numpy().ravel())) == [-1, 0, 1]
        assert len(first_pieces) == 9  # one labelled position per word (3 sentences x 3 words)
    else:
        wide = {"tf_idf"} if model.wide_tokens else set()  # the TF-IDF branch of frozen text models
        assert set(x) == {"token_ids", "segment_ids", "padding_mask"} | wide
        assert x["token_ids"].shape.rank == (3 if kind == "windowed_text" else 2)
        if wide:
            assert tuple(x["tf_idf"].shape) == (len(y_raw), model.wide_tokens)
        np.testing.assert_array_equal(y, y_raw)
    assert model.prepare(x_raw)[1] is None


def test_prepare_works_inside_tf_data(built_models, training_data):
    model = built_models("text_classifier")
    texts, labels = training_data("text_classifier")
    data = tf.data.Dataset.from_tensor_slices((texts, labels)).batch(2).map(model.prepare)
    x, y = next(iter(data))
    assert x["token_ids"].shape[0] == 2 and y.numpy().tolist() == [1, 0]


def test_jit_compile_is_refused_only_for_windowed_models(build_model):
    windowed = build_model("windowed_text")
    assert windowed.jit_compile is False and windowed.resolve_jit_compile("auto") is False
    with pytest.raises(ValueError, match="Received: jit_compile=True"):
        windowed.compile(jit_compile=True)
    single = build_model("text_classifier")
    assert single.resolve_jit_compile(True) is True and single.resolve_jit_compile("auto") == "auto"


@pytest.mark.parametrize("kind", ["image_classification", "text_classifier", "token_classifier"])
def test_only_the_head_is_trainable_when_built(built_models, kind):
    model = built_models(kind)
    head = {id(w) for w in model.head.trainable_weights}
    assert model.trainable_weights and {id(w) for w in model.trainable_weights} == head
