import json

import numpy as np
import pytest

import tl_suite
from tl_suite.data.texts import text_dataset
from tl_suite.models.text_model import build_text_classifier


def _all(dataset):
    texts, labels = [], []
    for x, y in dataset:
        texts.extend(t.decode() for t in x.numpy())
        labels.extend(y.numpy().tolist())
    return texts, labels


def test_lists_skip_empty_and_missing_texts_and_keep_labels_aligned():
    data = text_dataset(
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
    with pytest.raises(ValueError, match=r"reviews.csv: not valid utf-8: byte b'\\xff' at line 4 "
                                         r"\(byte offset 34\).*encoding_errors='replace'"):
        text_dataset(path=str(path), shuffle=False)
    data = text_dataset(path=str(path), shuffle=False, encoding_errors="replace")
    texts, labels = _all(data)
    assert texts == ["good film", "bad \ufffd\ufffd film"] and labels == [1, 0]
    assert dict(data.report.skipped) == {f"{path}:3": "missing value in column 'text'",
                                         f"{path}:5": "missing value in column 'label'"}
    assert data.report.flagged[0][0] == str(path) and "line 4 (byte offset 34)" in data.report.flagged[0][1]
    assert data.report.notes["rows with replacement characters (U+FFFD) from bytes that did not decode"] == 1
    assert "skipped 2" in capsys.readouterr().out


def test_missing_column_and_unknown_labels_are_errors_naming_the_file(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("review,label\ngood,pos\nbad,neg\nmeh,neutral\n")
    with pytest.raises(ValueError, match=r"no column\(s\) \['text'\]") as info:
        text_dataset(path=str(path), verbose=False)
    assert "'review'" in str(info.value) and "text_column=" in str(info.value)
    with pytest.raises(ValueError, match=f"{path}:4: 'neutral'"):
        text_dataset(path=str(path), text_column="review", class_names=["neg", "pos"], verbose=False)


def test_jsonl_regression_and_multi_label(tmp_path):
    path = tmp_path / "data.jsonl"
    rows = [{"text": "good film", "stars": 4.5, "tags": "a|b"}, {"text": "bad", "stars": 1.0, "tags": "c"}]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    regression = text_dataset(path=str(path), label_column="stars", label_mode="float",
                              shuffle=False, verbose=False)
    assert _all(regression)[1] == [4.5, 1.0]
    multi = text_dataset(path=str(path), label_column="tags", label_mode="multi_hot",
                         shuffle=False, verbose=False)
    assert multi.class_names == ["a", "b", "c"] and _all(multi)[1] == [[1, 1, 0], [0, 0, 1]]


def test_directory_of_text_files_with_bad_bytes(tmp_path):
    for name, texts in {"sport": [b"goal scored", b"match \xff won"], "tech": [b"new chip", b""]}.items():
        (tmp_path / name).mkdir()
        for index, text in enumerate(texts):
            (tmp_path / name / f"{index}.txt").write_bytes(text)
    strict = text_dataset(directory=str(tmp_path), shuffle=False, verbose=False)
    assert _all(strict) == (["goal scored", "new chip"], [0, 1])
    assert strict.report.skipped[0] == (str(tmp_path / "sport" / "1.txt"),
                                        "not valid utf-8: byte b'\\xff' at line 1 (byte offset 6)")
    data = text_dataset(directory=str(tmp_path), shuffle=False, verbose=False, encoding_errors="replace")
    texts, labels = _all(data)
    assert data.class_names == ["sport", "tech"] and labels == [0, 0, 1]
    assert texts[1] == "match \ufffd won"
    assert [where for where, _ in data.report.flagged] == [str(tmp_path / "sport" / "1.txt")]
    assert data.report.skipped[0][0].endswith("tech/1.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="has no .txt files"):
        text_dataset(directory=str(tmp_path), verbose=False)


def test_long_texts_are_cut_and_truncation_is_counted(spec):
    huge = "good film " * 10_000  # 100,000 characters
    data = text_dataset(texts=[huge, "bad film"], labels=[1, 0], backbone=spec,
                        sequence_length=16, max_characters=50_000, verbose=False)
    notes = data.report.notes
    assert notes["texts longer than max_characters=50000, cut there"] == 1
    key = ("texts longer than sequence_length=16 tokens of tiny_bert's tokenizer (the model keeps "
           "the first tokens; tokens lost: median 9,986, most 9,986)")  # 10,000 pieces + 2 - 16
    assert notes[key] == 1
    texts, _ = _all(data)
    assert max(len(t) for t in texts) == 50_000


def test_mismatched_lengths_and_sources_are_errors():
    with pytest.raises(ValueError, match="len\\(texts\\)=2, len\\(labels\\)=1"):
        text_dataset(texts=["a", "b"], labels=[1])
    with pytest.raises(ValueError, match="exactly one source"):
        text_dataset()
    with pytest.raises(ValueError, match="needs `backbone`"):
        text_dataset(texts=["a"], labels=[0], bucket_by_length=True)


def test_split_is_seeded_and_disjoint():
    texts = [f"text {i}" for i in range(50)]
    train, validation = text_dataset(texts=texts, labels=[i % 2 for i in range(50)],
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
    bucketed = text_dataset(bucket_by_length=True, **kwargs)
    plain = text_dataset(**kwargs)
    assert sorted(_all(bucketed)[0]) == sorted(texts)  # nothing lost
    assert spread(bucketed) < spread(plain) / 3


def test_tokenize_once_gives_the_same_predictions_and_training_as_raw_strings(spec, tmp_path):
    texts = ["good film", "bad film the quick fox", "the", "a b c d " * 10] * 3
    kwargs = dict(texts=texts, labels=[0, 1, 0, 1] * 3, batch_size=4, backbone=spec,
                  sequence_length=16, shuffle=False, verbose=False)
    raw = text_dataset(**kwargs)
    tokenized = text_dataset(tokenize=True, **kwargs)
    x, y = next(iter(tokenized))
    assert set(x) == {"token_ids", "padding_mask", "segment_ids"}
    assert x["token_ids"].shape == (4, 16)  # padded to the longest (truncated) text of the batch
    assert x["token_ids"].numpy()[2].tolist()[:4] == [2, 5, 3, 0]  # [CLS] the [SEP] [PAD]
    assert x["padding_mask"].numpy().sum(axis=1).tolist() == [4, 7, 3, 16] and y.numpy().tolist() == [0, 1, 0, 1]
    model = build_text_classifier(spec, num_classes=2, weights=None, sequence_length=16, seed=0, wide_tokens=None)
    np.testing.assert_allclose(model.predict(raw, verbose=0), model.predict(tokenized, verbose=0), atol=1e-6)
    # Training on pre-tokenized batches moves the head exactly like raw strings do.
    heads = []
    for data in (raw, tokenized):
        trained = build_text_classifier(spec, num_classes=2, weights=None, sequence_length=16,
                                        seed=0, learning_rate=1e-2, wide_tokens=None)
        tl_suite.fit(trained, data, epochs=2, log_dir=str(tmp_path / str(len(heads))), verbose=0,
                     cache_features=False, early_stopping_patience=None)
        heads.append([w.numpy() for w in trained.get_layer("head").weights])
    for a, b in zip(*heads):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_tokenized_dataset_for_another_sequence_length_is_refused(spec, tmp_path):
    data = text_dataset(texts=["good film", "bad"], labels=[1, 0], backbone=spec,
                        sequence_length=32, tokenize=True, verbose=False)
    model = build_text_classifier(spec, num_classes=2, weights=None, sequence_length=16, wide_tokens=None)
    with pytest.raises(ValueError, match="`train` was tokenized for backbone='tiny_bert' with sequence_length=32"):
        tl_suite.fit(model, data, epochs=1, log_dir=str(tmp_path), verbose=0)
    with pytest.raises(ValueError, match="tokenize=True needs `backbone`"):
        text_dataset(texts=["good"], labels=[1], tokenize=True)


def _pairs(dataset):
    firsts, seconds, labels = [], [], []
    for (first, second), y in dataset:
        firsts.extend(t.decode() for t in first.numpy())
        seconds.extend(t.decode() for t in second.numpy())
        labels.extend(y.numpy().tolist())
    return firsts, seconds, labels


def test_csv_with_two_text_columns_gives_pair_batches(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("question,answer,label\nis it good,the film,yes\nis it big,,no\n   ,paris,yes\n"
                    "bad,quick fox,no\n")
    data = text_dataset(path=str(path), text_column=("question", "answer"), shuffle=False, verbose=False)
    (first, second), labels = next(iter(data))
    assert first.dtype == second.dtype == "string" and first.shape == second.shape == labels.shape == (2,)
    assert _pairs(data) == (["is it good", "bad"], ["the film", "quick fox"], [1, 0])
    assert data.info.text_pairs and data.class_names == ["no", "yes"] and data.report.used == 2
    assert data.report.skipped == [(f"{path}:3", "missing value in column 'answer'"),
                                   (f"{path}:4", "empty or whitespace-only text")]
    with pytest.raises(ValueError, match=r"Received: text_column=\('q', 'a', 'b'\)"):
        text_dataset(path=str(path), text_column=("q", "a", "b"))
    with pytest.raises(ValueError, match=r"no column\(s\) \['reply'\]"):
        text_dataset(path=str(path), text_column=("question", "reply"))


def test_pairs_in_memory_as_a_list_of_pairs_or_two_lists():
    as_pairs = text_dataset(texts=[("good", "film"), "not a pair", ("bad", None), ("the", "fox")],
                            labels=[1, 1, 0, 0], shuffle=False, verbose=False)
    assert _pairs(as_pairs) == (["good", "the"], ["film", "fox"], [1, 0])
    assert dict(as_pairs.report.skipped) == {"texts[1]": "not a pair of strings",
                                             "texts[2]": "not a pair of strings"}
    as_lists = text_dataset(texts=(["good", "the"], ["film", "fox"]), labels=[1, 0], shuffle=False,
                            verbose=False)
    assert _pairs(as_lists) == _pairs(as_pairs) and as_lists.info.text_pairs
    plain = text_dataset(texts=("good film", "bad film"), labels=[1, 0], verbose=False)
    assert not plain.info.text_pairs  # a tuple of two strings is two texts, not a pair
    with pytest.raises(ValueError, match="as many second texts as first texts. Received: 2 and 1"):
        text_dataset(texts=(["a", "b"], ["c"]), labels=[0, 1])


def test_pair_checks_apply_to_either_text(spec):
    data = text_dataset(texts=[("aaaa", "bbbbbb"), ("ok", " "), ("a b c", "a b c"), ("a b", "c")],
                        labels=[0, 1, 0, 1], max_characters=3, backbone=spec, sequence_length=8,
                        shuffle=False, verbose=False)
    assert _pairs(data)[:2] == (["aaa", "a b", "a b"], ["bbb", "a b", "c"])
    assert data.report.skipped == [("texts[1]", "empty or whitespace-only text")]
    assert data.report.notes["texts longer than max_characters=3, cut there"] == 4
    # 3 + 3 pieces + [CLS] [SEP] [SEP] = 9 > 8: the pair's total length counts ("aaa" -> [UNK]: 1).
    long_pairs = text_dataset(texts=[("a b c", "a b c d"), ("a b", "c"), ("a b c d a b", "c")],
                              labels=[0, 1, 0], backbone=spec, sequence_length=9, verbose=False)
    assert long_pairs.report.notes[
        "texts longer than sequence_length=9 tokens of tiny_bert's tokenizer (the model keeps the "
        "first tokens; tokens lost: median 1, most 1)"] == 2


def test_truncation_is_reported_without_a_backbone_by_the_default_tokenizer():
    texts = ["word " * 10, "word " * 30, "word " * 100, "short"]
    data = text_dataset(texts=texts, labels=[0, 1, 0, 1], sequence_length=16, verbose=False)
    # MiniLM: one piece per "word", plus [CLS] and [SEP]: 12, 32 and 102 tokens -> 16 and 86 lost
    assert data.report.notes == {
        "texts longer than sequence_length=16 tokens of minilm_l6's tokenizer (the model keeps the "
        "first tokens; tokens lost: median 51, most 86)": 2}
    assert "tokens lost: median 51, most 86" in str(data.report)


def test_pairs_tokenized_once_are_packed_like_the_model_does(spec):
    from tl_suite.preprocessing.text import TextPreprocessor

    texts = [("good film", "bad"), ("the", "paris is big"), ("a", "b")]
    kwargs = dict(texts=texts, labels=[1, 0, 1], batch_size=2, backbone=spec, sequence_length=16,
                  shuffle=False, verbose=False)
    tokenized = text_dataset(tokenize=True, **kwargs)
    x, y = next(iter(tokenized))
    assert x["token_ids"].numpy().tolist() == [[2, 15, 17, 3, 16, 3, 0], [2, 5, 3, 12, 13, 14, 3]]
    assert x["segment_ids"].numpy().tolist() == [[0, 0, 0, 0, 1, 1, 0], [0, 0, 0, 1, 1, 1, 1]]
    assert y.numpy().tolist() == [1, 0] and tokenized.info.text_pairs and tokenized.info.tokenized
    reference = TextPreprocessor(spec.tokenizer(), sequence_length=16)((["a"], ["b"]), y=None)
    last, _ = list(tokenized)[1]
    assert last["token_ids"].numpy().tolist() == reference["token_ids"].numpy().tolist() == [[2, 18, 3, 19, 3]]
    raw = text_dataset(**kwargs)
    model = build_text_classifier(spec, num_classes=2, weights=None, sequence_length=16, seed=0, wide_tokens=None)
    np.testing.assert_allclose(model.predict(raw, verbose=0), model.predict(tokenized, verbose=0), atol=1e-6)
    bucketed = text_dataset(bucket_by_length=True, **kwargs)
    assert sorted(zip(*_pairs(bucketed)[:2])) == sorted(texts)


def test_each_text_step_works_alone(spec):
    from tl_suite.data.report import DataReport
    from tl_suite.data.texts import (
        check_texts,
        packed_lengths,
        read_text_lists,
        select_texts,
        text_columns,
        text_pipeline,
    )

    report = DataReport(source="texts")
    examples, labels, where = read_text_lists(["good film", b"bad \xff", 3], ["a", "b", "c"], report)
    assert examples == ["good film", "bad \ufffd"] and labels == ["a", "b"] and where == ["texts[0]", "texts[1]"]
    kept = check_texts(examples + [""], labels + ["c"], where + ["texts[9]"], max_characters=5, report=report)
    assert kept == (["good ", "bad \ufffd"], ["a", "b"], ["texts[0]", "texts[1]"])
    columns = text_columns([("a", "b"), ("c", "d")])
    assert [c.tolist() for c in columns] == [["a", "c"], ["b", "d"]]
    assert [c.tolist() for c in select_texts(columns, [1])] == [["c"], ["d"]]
    assert packed_lengths(spec.tokenizer(), columns).tolist() == [5, 5]  # [CLS] a [SEP] b [SEP]
    assert packed_lengths(spec.tokenizer(), text_columns(["a b"])).tolist() == [4]
    batches = list(text_pipeline(np.array(["x", "y", "z"]), np.array([0, 1, 0]), training=False,
                                 batch_size=2))
    assert [b[0].numpy().tolist() for b in batches] == [[b"x", b"y"], [b"z"]]
    with pytest.raises(ValueError, match="No usable text in texts"):
        check_texts([" "], [0], ["texts[0]"], report=report)
