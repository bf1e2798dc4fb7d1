import numpy as np
import pytest

import tl_suite
from tl_suite.data.info import dataset_info
from tl_suite.data.tokens import read_conll, token_dataset
from tl_suite.models.token_model import build_token_classifier

CONLL = "Paris\tB-loc\nis\tO\nbig\tO\n\n-DOCSTART-\tO\n\nquick\tO\nfox\tB-animal\n\n"


def test_read_conll_and_token_dataset(tmp_path):
    path = tmp_path / "ner.txt"
    path.write_text(CONLL)
    sentences, tags, lines, _ = read_conll(str(path))
    assert sentences == [["Paris", "is", "big"], ["quick", "fox"]] and lines == [1, 7]
    data = token_dataset(path=str(path), shuffle=False, verbose=False)
    assert data.tag_names == ["O", "B-animal", "B-loc"]
    words, tag_ids = next(iter(data))
    assert words.to_list()[0] == [b"Paris", b"is", b"big"] and tag_ids.to_list() == [[2, 0, 0], [0, 1]]


def test_bad_ner_input_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "ner.txt"
    path.write_text("Paris\tB-loc\nis\n")
    with pytest.raises(ValueError, match=f"No usable sentence in {path}") as info:
        token_dataset(path=str(path))
    assert f"{path}:2: malformed line 'is': expected 'token<TAB>tag', got one column" in str(info.value)
    path.write_text(CONLL)
    with pytest.raises(ValueError, match=f"{path}:7: 'B-animal'"):
        token_dataset(path=str(path), tag_names=["O", "B-loc"])
    with pytest.raises(ValueError, match="3 words but 2 tags"):
        token_dataset(sentences=[["a", "b", "c"]], tags=[["O", "O"]])


def test_long_sentences_become_windows_and_lose_no_word(spec):
    sentence = ["the", "quick", "fox", "jumped"] * 10  # 50 word pieces
    data = token_dataset(sentences=[sentence, ["paris"]], tags=[["O"] * 40, ["B-loc"]],
                         backbone=spec, sequence_length=16, shuffle=False, verbose=False)
    windows = [w for x, _ in data for w in x.to_list()]
    assert sum(len(w) for w in windows[:-1]) == 40 and len(windows) > 2
    assert [t.decode() for w in windows[:-1] for t in w] == sentence
    assert any("no word lost" in note for note in data.report.notes)


def test_ner_evaluation_is_entity_level_and_matches_predict_tags(spec, tmp_path):
    sentences = [["paris", "is", "big"], ["the", "fox", "jumped"], ["paris", "fox"]] * 4
    tags = [["B-loc", "O", "O"], ["O", "B-animal", "O"], ["B-loc", "B-animal"]] * 4
    data = token_dataset(sentences=sentences, tags=tags, shuffle=False, verbose=False, batch_size=5)
    model = build_token_classifier(spec, tags=data.tag_names, weights=None, learning_rate=5e-2, seed=0)
    tl_suite.fit(model, data, epochs=30, log_dir=str(tmp_path), early_stopping_patience=None, verbose=0)
    result = tl_suite.evaluate(model, data, log_dir=str(tmp_path), verbose=False)
    assert result["true_tags"] == tags
    assert result["predicted_tags"] == tl_suite.predict_tags(model, sentences)
    from seqeval.metrics import f1_score
    assert result["metrics"]["f1"] == pytest.approx(f1_score(tags, result["predicted_tags"]))
    assert result["metrics"]["f1"] > 0.9  # the tiny model learns this toy task
    assert {"loc", "animal"} <= set(result["report_dict"]) and "loc" in result["report"]


def test_ner_tokenize_once_and_bucketing_keep_every_word_and_label(spec):
    rng = np.random.default_rng(0)
    words = ["the", "quick", "fox", "jumped", "paris", "is", "big"]
    sentences = [[str(w) for w in rng.choice(words, size=int(n))] for n in rng.integers(1, 40, size=60)]
    tags = [["B-loc" if w == "paris" else "O" for w in s] for s in sentences]
    kwargs = dict(sentences=sentences, tags=tags, backbone=spec, sequence_length=64, batch_size=8,
                  shuffle=False, verbose=False)
    plain = token_dataset(**kwargs)
    bucketed = token_dataset(bucket_by_length=True, **kwargs)
    tokenized = token_dataset(tokenize=True, bucket_by_length=True, **kwargs)
    model = build_token_classifier(spec, tags=plain.tag_names, weights=None, sequence_length=64, seed=0)
    results = [tl_suite.evaluate(model, data, verbose=False) for data in (plain, bucketed, tokenized)]
    key = lambda pair: " ".join(pair[0])  # bucketing reorders sentences
    pairs = [sorted(zip(r["true_tags"], r["predicted_tags"]), key=key) for r in results]
    assert pairs[0] == pairs[1] == pairs[2]
    assert sorted(map(tuple, results[0]["true_tags"])) == sorted(map(tuple, tags))
    def spread(dataset):  # word-piece length range within a batch
        return np.mean([np.ptp(x["padding_mask"].numpy().sum(axis=1)) for x, _ in dataset])
    assert spread(tokenized) < spread(token_dataset(tokenize=True, **kwargs)) / 2


def test_each_token_step_works_alone(spec):
    from tl_suite.data.report import DataReport
    from tl_suite.data.tokens import check_sentences, read_sentences, token_pipeline, window_sentences
    from tl_suite.preprocessing.tokens import TokenClassifierPreprocessor

    sentences, tags, where, report = read_sentences(sentences=["Paris is big", []], tags=[["B-loc", "O", "O"], []])
    assert sentences == [["Paris", "is", "big"], []] and where == ["sentences[0]", "sentences[1]"]
    assert check_sentences(sentences, tags, where, report).tolist() == [0]
    assert report.skipped == [("sentences[1]", "sentence with no words")]
    preprocessor = TokenClassifierPreprocessor(spec.tokenizer(), sequence_length=6)
    report = DataReport(source="sentences")
    words, ids = window_sentences(preprocessor, [["the", "fox", "jumped", "is", "big"]], [[0, 1, 0, 0, 2]], report)
    assert words == [["the", "fox", "jumped"], ["is", "big"]] and ids == [[0, 1, 0], [0, 2]]  # 4 + 2 pieces
    assert list(report.notes.values()) == [1]
    batches = list(token_pipeline(words, ids, training=False, batch_size=2))
    assert batches[0][0].to_list() == [[b"the", b"fox", b"jumped"], [b"is", b"big"]]
    x, labels = next(iter(token_pipeline(words, ids, training=False, preprocessor=preprocessor, tokenize=True)))
    assert x["token_ids"].numpy().tolist() == [[2, 5, 8, 9, 11, 3], [2, 13, 14, 3, 0, 0]]
    assert labels.numpy().tolist() == [[-1, 0, 1, 0, -1, -1], [-1, 0, 2, -1, -1, -1]]


def test_token_info_and_max_examples(tmp_path):
    sentences = [["w"] * (i + 1) for i in range(10)] + [[]]
    tags = [["O"] * len(s) for s in sentences]
    data = token_dataset(sentences=sentences, tags=tags, max_examples=4, seed=0, shuffle=False, verbose=False)
    info = dataset_info(data.map(lambda words, ids: (words, ids)))
    assert info.num_examples == 4 and info.kind == "tokens" and not info.shuffled
    assert data.report.notes == {"sentences left out by max_examples=4": 6} and data.report.used == 4
    assert len(data.report.skipped) == 1
    with pytest.raises(ValueError, match="Give exactly one source"):
        token_dataset(path=str(tmp_path / "x.txt"), sentences=sentences, tags=tags)
    with pytest.raises(ValueError, match="need `backbone`"):
        token_dataset(sentences=sentences, tags=tags, tokenize=True)
