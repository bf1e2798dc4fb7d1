import json

import numpy as np
import pytest

import tl_suite
from tl_suite.backbones import text as text_backbones
from tl_suite.text_data import read_conll

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox", "jump",
              "##s", "##ed", "paris", "is", "big", "good", "bad", "film", "a", "b", "c", "d"]


@pytest.fixture
def spec():
    return text_backbones.tiny_bert_spec(VOCABULARY)


def _all(dataset):
    texts, labels = [], []
    for x, y in dataset:
        texts.extend(t.decode() for t in x.numpy())
        labels.extend(y.numpy().tolist())
    return texts, labels


def test_lists_skip_empty_and_missing_texts_and_keep_labels_aligned():
    data = tl_suite.text_dataset(
        texts=["good film", "", "   \n", None, "bad film"], labels=["pos", "pos", "neg", "pos", "neg"],
        shuffle=False, verbose=False)
    texts, labels = _all(data)
    assert texts == ["good film", "bad film"] and labels == [1, 0]
    assert data.class_names == ["neg", "pos"]
    reasons = dict(data.report.skipped)
    assert reasons == {"texts[1]": "empty or whitespace-only text", "texts[2]": "empty or whitespace-only text",
                       "texts[3]": "not a string (missing value?)"}


def test_csv_missing_values_bad_bytes_and_line_numbers(tmp_path, capsys):
    path = tmp_path / "reviews.csv"
    path.write_bytes(b"text,label\ngood film,pos\n,neg\nbad \xff\xfe film,neg\nok film,\n")
    data = tl_suite.text_dataset(path=str(path), shuffle=False)
    texts, labels = _all(data)
    assert texts == ["good film", "bad \ufffd\ufffd film"] and labels == [1, 0]
    assert dict(data.report.skipped) == {f"{path}:3": "missing value in column 'text'",
                                         f"{path}:5": "missing value in column 'label'"}
    assert any("invalid UTF-8" in note for note in data.report.notes)
    assert "skipped 2" in capsys.readouterr().out


def test_missing_column_and_unknown_labels_are_errors_naming_the_file(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("review,label\ngood,pos\nbad,neg\nmeh,neutral\n")
    with pytest.raises(ValueError, match=r"no column\(s\) \['text'\]") as info:
        tl_suite.text_dataset(path=str(path), verbose=False)
    assert "'review'" in str(info.value) and "text_column=" in str(info.value)
    with pytest.raises(ValueError, match=f"{path}:4: 'neutral'"):
        tl_suite.text_dataset(path=str(path), text_column="review", class_names=["neg", "pos"], verbose=False)


def test_jsonl_regression_and_multi_label(tmp_path):
    path = tmp_path / "data.jsonl"
    rows = [{"text": "good film", "stars": 4.5, "tags": "a|b"}, {"text": "bad", "stars": 1.0, "tags": "c"}]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    regression = tl_suite.text_dataset(path=str(path), label_column="stars", label_mode="float",
                                       shuffle=False, verbose=False)
    assert _all(regression)[1] == [4.5, 1.0]
    multi = tl_suite.text_dataset(path=str(path), label_column="tags", label_mode="multi_hot",
                                  shuffle=False, verbose=False)
    assert multi.class_names == ["a", "b", "c"] and _all(multi)[1] == [[1, 1, 0], [0, 0, 1]]


def test_directory_of_text_files_with_bad_bytes(tmp_path):
    for name, texts in {"sport": [b"goal scored", b"match \xff won"], "tech": [b"new chip", b""]}.items():
        (tmp_path / name).mkdir()
        for index, text in enumerate(texts):
            (tmp_path / name / f"{index}.txt").write_bytes(text)
    data = tl_suite.text_dataset(directory=str(tmp_path), shuffle=False, verbose=False)
    texts, labels = _all(data)
    assert data.class_names == ["sport", "tech"] and labels == [0, 0, 1]
    assert texts[1] == "match \ufffd won"
    assert data.report.skipped[0][0].endswith("tech/1.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="has no .txt files"):
        tl_suite.text_dataset(directory=str(tmp_path), verbose=False)


def test_long_texts_are_cut_and_truncation_is_counted(spec):
    huge = "good film " * 10_000  # 100,000 characters
    data = tl_suite.text_dataset(texts=[huge, "bad film"], labels=[1, 0], backbone=spec,
                                 sequence_length=16, max_characters=50_000, verbose=False)
    notes = data.report.notes
    assert notes["texts longer than max_characters=50000, cut there"] == 1
    assert notes["texts longer than sequence_length=16 tokens (the model keeps the first tokens)"] == 1
    texts, _ = _all(data)
    assert max(len(t) for t in texts) == 50_000


def test_mismatched_lengths_and_sources_are_errors():
    with pytest.raises(ValueError, match="len\\(texts\\)=2, len\\(labels\\)=1"):
        tl_suite.text_dataset(texts=["a", "b"], labels=[1])
    with pytest.raises(ValueError, match="exactly one source"):
        tl_suite.text_dataset()
    with pytest.raises(ValueError, match="needs `backbone`"):
        tl_suite.text_dataset(texts=["a"], labels=[0], bucket_by_length=True)


def test_split_is_seeded_and_disjoint():
    texts = [f"text {i}" for i in range(50)]
    train, validation = tl_suite.text_dataset(texts=texts, labels=[i % 2 for i in range(50)],
                                              validation_split=0.2, subset="both", seed=5, verbose=False)
    train_texts, validation_texts = set(_all(train)[0]), set(_all(validation)[0])
    assert len(validation_texts) == 10 and not train_texts & validation_texts
    assert train_texts | validation_texts == set(texts)


def test_length_bucketing_groups_similar_lengths(spec):
    rng = np.random.default_rng(0)
    texts = [" ".join(["a"] * int(n)) for n in rng.integers(1, 120, size=200)]
    kwargs = dict(texts=texts, labels=[0, 1] * 100, batch_size=16, backbone=spec, sequence_length=128,
                  verbose=False, seed=0)
    def spread(dataset):
        return np.mean([np.ptp([len(t.split()) for t in x.numpy()]) for x, _ in dataset])
    bucketed = tl_suite.text_dataset(bucket_by_length=True, **kwargs)
    plain = tl_suite.text_dataset(**kwargs)
    assert sorted(_all(bucketed)[0]) == sorted(texts)  # nothing lost
    assert spread(bucketed) < spread(plain) / 3


CONLL = "Paris\tB-loc\nis\tO\nbig\tO\n\n-DOCSTART-\tO\n\nquick\tO\nfox\tB-animal\n\n"


def test_read_conll_and_token_dataset(tmp_path):
    path = tmp_path / "ner.txt"
    path.write_text(CONLL)
    sentences, tags, lines, _ = read_conll(str(path))
    assert sentences == [["Paris", "is", "big"], ["quick", "fox"]] and lines == [1, 7]
    data = tl_suite.token_dataset(path=str(path), shuffle=False, verbose=False)
    assert data.tag_names == ["O", "B-animal", "B-loc"]
    words, tag_ids = next(iter(data))
    assert words.to_list()[0] == [b"Paris", b"is", b"big"] and tag_ids.to_list() == [[2, 0, 0], [0, 1]]


def test_bad_ner_input_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "ner.txt"
    path.write_text("Paris\tB-loc\nis\n")
    with pytest.raises(ValueError, match=f"{path}:2: expected 'token<TAB>tag'"):
        tl_suite.token_dataset(path=str(path))
    path.write_text(CONLL)
    with pytest.raises(ValueError, match=f"{path}:7: 'B-animal'"):
        tl_suite.token_dataset(path=str(path), tag_names=["O", "B-loc"])
    with pytest.raises(ValueError, match="3 words but 2 tags"):
        tl_suite.token_dataset(sentences=[["a", "b", "c"]], tags=[["O", "O"]])


def test_long_sentences_become_windows_and_lose_no_word(spec):
    sentence = ["the", "quick", "fox", "jumped"] * 10  # 50 word pieces
    data = tl_suite.token_dataset(sentences=[sentence, ["paris"]], tags=[["O"] * 40, ["B-loc"]],
                                  backbone=spec, sequence_length=16, shuffle=False, verbose=False)
    windows = [w for x, _ in data for w in x.to_list()]
    assert sum(len(w) for w in windows[:-1]) == 40 and len(windows) > 2
    assert [t.decode() for w in windows[:-1] for t in w] == sentence
    assert any("no word lost" in note for note in data.report.notes)


def test_ner_evaluation_is_entity_level_and_matches_predict_tags(spec, tmp_path):
    sentences = [["paris", "is", "big"], ["the", "fox", "jumped"], ["paris", "fox"]] * 4
    tags = [["B-loc", "O", "O"], ["O", "B-animal", "O"], ["B-loc", "B-animal"]] * 4
    data = tl_suite.token_dataset(sentences=sentences, tags=tags, shuffle=False, verbose=False, batch_size=5)
    model = tl_suite.build_token_classifier(spec, tags=data.tag_names, weights=None, learning_rate=5e-2, seed=0)
    tl_suite.fit(model, data, epochs=30, log_dir=str(tmp_path), early_stopping_patience=None, verbose=0)
    result = tl_suite.evaluate(model, data, log_dir=str(tmp_path), verbose=False)
    assert result["true_tags"] == tags
    assert result["predicted_tags"] == tl_suite.predict_tags(model, sentences)
    from seqeval.metrics import f1_score
    assert result["metrics"]["f1"] == pytest.approx(f1_score(tags, result["predicted_tags"]))
    assert result["metrics"]["f1"] > 0.9  # the tiny model learns this toy task
    assert {"loc", "animal"} <= set(result["report_dict"]) and "loc" in result["report"]


def test_tokenize_once_gives_the_same_predictions_and_training_as_raw_strings(spec, tmp_path):
    texts = ["good film", "bad film the quick fox", "the", "a b c d " * 10] * 3
    kwargs = dict(texts=texts, labels=[0, 1, 0, 1] * 3, batch_size=4, backbone=spec,
                  sequence_length=16, shuffle=False, verbose=False)
    raw = tl_suite.text_dataset(**kwargs)
    tokenized = tl_suite.text_dataset(tokenize=True, **kwargs)
    x, y = next(iter(tokenized))
    assert set(x) == {"token_ids", "padding_mask", "segment_ids"}
    assert x["token_ids"].shape == (4, 16)  # padded to the longest (truncated) text of the batch
    assert x["token_ids"].numpy()[2].tolist()[:4] == [2, 5, 3, 0]  # [CLS] the [SEP] [PAD]
    assert x["padding_mask"].numpy().sum(axis=1).tolist() == [4, 7, 3, 16] and y.numpy().tolist() == [0, 1, 0, 1]
    model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, sequence_length=16, seed=0)
    np.testing.assert_allclose(model.predict(raw, verbose=0), model.predict(tokenized, verbose=0), atol=1e-6)
    # Training on pre-tokenized batches moves the head exactly like raw strings do.
    heads = []
    for data in (raw, tokenized):
        trained = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, sequence_length=16,
                                                 seed=0, learning_rate=1e-2)
        tl_suite.fit(trained, data, epochs=2, log_dir=str(tmp_path / str(len(heads))), verbose=0,
                     cache_features=False, early_stopping_patience=None)
        heads.append([w.numpy() for w in trained.get_layer("head").weights])
    for a, b in zip(*heads):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_tokenized_dataset_for_another_sequence_length_is_refused(spec, tmp_path):
    data = tl_suite.text_dataset(texts=["good film", "bad"], labels=[1, 0], backbone=spec,
                                 sequence_length=32, tokenize=True, verbose=False)
    model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, sequence_length=16)
    with pytest.raises(ValueError, match="`train` was tokenized for backbone='tiny_bert' with sequence_length=32"):
        tl_suite.fit(model, data, epochs=1, log_dir=str(tmp_path), verbose=0)
    with pytest.raises(ValueError, match="tokenize=True needs `backbone`"):
        tl_suite.text_dataset(texts=["good"], labels=[1], tokenize=True)


def test_ner_tokenize_once_and_bucketing_keep_every_word_and_label(spec):
    rng = np.random.default_rng(0)
    words = ["the", "quick", "fox", "jumped", "paris", "is", "big"]
    sentences = [[str(w) for w in rng.choice(words, size=int(n))] for n in rng.integers(1, 40, size=60)]
    tags = [["B-loc" if w == "paris" else "O" for w in s] for s in sentences]
    kwargs = dict(sentences=sentences, tags=tags, backbone=spec, sequence_length=64, batch_size=8,
                  shuffle=False, verbose=False)
    plain = tl_suite.token_dataset(**kwargs)
    bucketed = tl_suite.token_dataset(bucket_by_length=True, **kwargs)
    tokenized = tl_suite.token_dataset(tokenize=True, bucket_by_length=True, **kwargs)
    model = tl_suite.build_token_classifier(spec, tags=plain.tag_names, weights=None, sequence_length=64, seed=0)
    results = [tl_suite.evaluate(model, data, verbose=False) for data in (plain, bucketed, tokenized)]
    key = lambda pair: " ".join(pair[0])  # bucketing reorders sentences
    pairs = [sorted(zip(r["true_tags"], r["predicted_tags"]), key=key) for r in results]
    assert pairs[0] == pairs[1] == pairs[2]
    assert sorted(map(tuple, results[0]["true_tags"])) == sorted(map(tuple, tags))
    def spread(dataset):  # word-piece length range within a batch
        return np.mean([np.ptp(x["padding_mask"].numpy().sum(axis=1)) for x, _ in dataset])
    assert spread(tokenized) < spread(tl_suite.token_dataset(tokenize=True, **kwargs)) / 2
