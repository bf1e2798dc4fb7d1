"""Hostile text and label input (issue 13): encodings, binary files, likely-typo labels,
malformed CoNLL lines, non-finite pixels and targets. Each is a clear error naming the file and
the fix, or a skip / flag named in the report."""

import json
import warnings

import numpy as np
import pytest

from tl_suite.data.images import image_dataset
from tl_suite.data.texts import text_dataset
from tl_suite.data.tokens import read_conll, token_dataset

RANDOM_BYTES = np.random.default_rng(0).bytes(3000)
CONTROL_BYTES = bytes(range(1, 9)) * 50 + b"some text"  # no NUL, mostly control bytes


def _texts(dataset):
    return [t.decode() for x, _ in dataset for t in x.numpy()]


def _class_folders(root, files):
    for name, contents in files.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for file_name, data in contents.items():
            (root / name / file_name).write_bytes(data)
    return root


def test_latin1_csv_is_refused_by_default_and_read_with_its_encoding(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_bytes("text,label\ngood film,pos\ncaf\u00e9 cr\u00e8me,neg\n".encode("latin-1"))
    with pytest.raises(ValueError) as info:
        text_dataset(path=str(path), verbose=False)
    message = str(info.value)
    assert message.startswith(f"{path}: not valid utf-8: byte b'\\xe9' at line 3 (byte offset 28)")
    assert "encoding='latin-1'" in message and "encoding_errors='replace'" in message
    assert "Received: encoding='utf-8', encoding_errors='strict'" in message
    data = text_dataset(path=str(path), encoding="latin-1", shuffle=False, verbose=False)
    assert _texts(data) == ["good film", "caf\u00e9 cr\u00e8me"] and not data.report.flagged
    replaced = text_dataset(path=str(path), encoding_errors="replace", shuffle=False, verbose=False)
    assert _texts(replaced)[1] == "caf\ufffd cr\ufffdme"
    assert replaced.report.flagged == [(str(path), "not valid utf-8 (byte b'\\xe9' at line 3 (byte "
                                                   "offset 28)); decoded with encoding_errors='replace'")]
    assert f"check 1 (kept):\n    {path}: not valid utf-8" in str(replaced.report)


def test_jsonl_encoding_bom_and_bad_arguments(tmp_path):
    path = tmp_path / "data.jsonl"
    rows = "\n".join(json.dumps({"text": t, "label": l}, ensure_ascii=False) for t, l in
                     [("gr\u00fc\u00df", "a"), ("ok", "b")])
    path.write_bytes(rows.encode("cp1252"))
    with pytest.raises(ValueError, match="data.jsonl: not valid utf-8: byte b'\\\\xfc' at line 1"):
        text_dataset(path=str(path), verbose=False)
    assert _texts(text_dataset(path=str(path), encoding="cp1252", shuffle=False, verbose=False))[0] == "gr\u00fc\u00df"
    csv = tmp_path / "bom.csv"
    csv.write_bytes(b"\xef\xbb\xbftext,label\nhello,a\n")  # the BOM must not end up in the header
    assert _texts(text_dataset(path=str(csv), verbose=False)) == ["hello"]
    with pytest.raises(ValueError, match="Received: encoding='klingon'"):
        text_dataset(path=str(csv), encoding="klingon")
    with pytest.raises(ValueError, match="Received: encoding_errors='sometimes'"):
        text_dataset(path=str(csv), encoding_errors="sometimes")


def test_text_folder_skips_binary_and_undecodable_files_and_names_replaced_ones(tmp_path):
    root = _class_folders(tmp_path / "news", {
        "sport": {"a.txt": b"goal scored", "b.txt": b"match won", "photo.txt": RANDOM_BYTES},
        "tech": {"a.txt": b"new chip", "b.txt": "caf\u00e9 wifi".encode("latin-1"),
                 "ctl.txt": CONTROL_BYTES, "utf16.txt": "chip news".encode("utf-16")},
    })
    data = text_dataset(directory=str(root), shuffle=False, verbose=False)
    assert _texts(data) == ["goal scored", "match won", "new chip"]
    skipped = dict(data.report.skipped)
    assert skipped[str(root / "sport" / "photo.txt")] == "binary file, not text"
    assert skipped[str(root / "tech" / "ctl.txt")] == "binary file, not text"
    assert skipped[str(root / "tech" / "utf16.txt")] == "binary file, not text"
    assert skipped[str(root / "tech" / "b.txt")] == "not valid utf-8: byte b'\\xe9' at line 1 (byte offset 3)"
    replaced = text_dataset(directory=str(root), shuffle=False, verbose=False, encoding_errors="replace")
    assert "caf\ufffd wifi" in _texts(replaced) and len(replaced.report.skipped) == 3  # binaries still out
    assert [where for where, _ in replaced.report.flagged] == [str(root / "tech" / "b.txt")]
    latin = text_dataset(directory=str(root), shuffle=False, verbose=False, encoding="latin-1")
    assert "caf\u00e9 wifi" in _texts(latin) and not latin.report.flagged


def test_binary_table_and_conll_files_are_errors(tmp_path):
    for name in ("data.csv", "data.jsonl"):
        (tmp_path / name).write_bytes(RANDOM_BYTES)
        with pytest.raises(ValueError, match=f"{name}: binary file, not text"):
            text_dataset(path=str(tmp_path / name), verbose=False)
    (tmp_path / "ner.txt").write_bytes(b"Paris\tB-loc\n" + CONTROL_BYTES)
    with pytest.raises(ValueError, match="ner.txt: binary file, not text"):
        token_dataset(path=str(tmp_path / "ner.txt"), verbose=False)


def test_conll_encoding(tmp_path):
    path = tmp_path / "ner.txt"
    path.write_bytes("Z\u00fcrich\tB-loc\nis\tO\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"ner.txt: not valid utf-8: byte b'\\xfc' at line 1 \(byte offset 1\)"):
        read_conll(str(path))
    assert read_conll(str(path), encoding="latin-1")[0] == [["Z\u00fcrich", "is"]]
    data = token_dataset(path=str(path), encoding_errors="replace", verbose=False)
    words, _ = next(iter(data))
    assert words.to_list()[0][0].decode() == "Z\ufffdrich"
    assert [where for where, _ in data.report.flagged] == [str(path)]


def test_malformed_conll_lines_drop_their_sentence_and_reading_goes_on(tmp_path):
    path = tmp_path / "ner.txt"
    path.write_text(
        "Paris\tB-loc\nis\tO\n\n"        # 1-3: good
        "Berlin\tB-loc\nbroken\n\n"      # 4-6: one column -> sentence dropped
        "\tO\nx\tO\n\n"                  # 7-9: empty token
        "a\tb\tO\nc\tO\n\n"              # 10-12: three columns in a two-column file
        "y\t\n\n"                        # 13-14: a tag-less line (trailing tab)
        "fox\tB-animal\n"                # 15: good, last sentence without a final blank line
    )
    sentences, tags, lines, report = read_conll(str(path))
    assert sentences == [["Paris", "is"], ["fox"]] and tags == [["B-loc", "O"], ["B-animal"]]
    assert lines == [1, 15]
    assert report.skipped == [
        (f"{path}:5", "malformed line 'broken': expected 'token<TAB>tag', got one column; its "
                      "sentence (from line 4) is left out"),
        (f"{path}:7", "malformed line 'O': empty token; its sentence (from line 7) is left out"),
        (f"{path}:10", "malformed line 'a\\tb\\tO': 3 columns where the file's lines have 2; its "
                       "sentence (from line 10) is left out"),
        (f"{path}:13", "malformed line 'y': expected 'token<TAB>tag', got one column; its sentence "
                       "(from line 13) is left out"),
    ]
    data = token_dataset(path=str(path), shuffle=False, verbose=False)
    assert data.report.used == 2 and len(data.report.skipped) == 4
    # CoNLL-2003 style (token POS chunk tag): the last column is the tag; a 2-column line is off.
    path.write_text("EU NNP B-NP B-org\nrejects VBZ B-VP O\n\nGerman JJ B-org\n\nok NN B-NP O\n")
    sentences, tags, _, report = read_conll(str(path))
    assert tags == [["B-org", "O"], ["O"]] and report.skipped[0][0] == f"{path}:4"


def _reviews(tmp_path, typo_rows):
    rows = [("good film", "pos"), ("bad film", "neg")] * 15 + typo_rows
    path = tmp_path / "reviews.csv"
    path.write_text("text,label\n" + "".join(f"{text},{label}\n" for text, label in rows))
    return path


def test_a_rare_inferred_class_is_flagged_as_a_likely_typo(tmp_path):
    path = _reviews(tmp_path, [("great", "pso"), ("meh", "neutral")])
    with pytest.warns(UserWarning, match="class 'pso' has only 1 example") as caught:
        data = text_dataset(path=str(path), verbose=False)
    assert data.class_names == ["neg", "neutral", "pos", "pso"]  # kept: the user decides
    flagged = dict(data.report.flagged)
    assert flagged[f"{path}:32"] == (
        f"class 'pso' has only 1 example ({path}:32) while the others have about 15: likely a "
        "typo of 'pos'. Correct the label, or pass class_names=[...] to refuse unknown names.")
    assert "too rare to learn, or a typo? (closest name" in flagged[f"{path}:33"]
    assert len(caught) == 1  # 'neutral' is reported, but is no near-miss of another name
    with pytest.raises(ValueError, match=f"{path}:32: 'pso'"):
        text_dataset(path=str(path), class_names=["neg", "neutral", "pos"], verbose=False)
    # Names given: nothing is guessed. Balanced or tiny data: nothing is flagged.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        given = text_dataset(path=str(path), class_names=["neg", "neutral", "pos", "pso"], verbose=False)
        small = text_dataset(texts=["a", "b", "c"], labels=["pos", "neg", "pos"], verbose=False)
    assert not given.report.flagged and not small.report.flagged


def test_rare_labels_in_multi_label_rows_and_class_folders(tmp_path):
    with pytest.warns(UserWarning, match="class 'bb' has only 1 example"):
        multi = text_dataset(texts=["t"] * 31, labels=["a|b"] * 15 + ["b"] * 15 + ["a|bb"],
                             label_mode="multi_hot", verbose=False)
    assert [where for where, _ in multi.report.flagged] == ["texts[30]"]
    root = _class_folders(tmp_path / "news", {
        "sport": {f"{i}.txt": b"goal" for i in range(20)}, "tech": {f"{i}.txt": b"chip" for i in range(20)},
        "sprot": {"0.txt": b"match"}})
    with pytest.warns(UserWarning, match="likely a typo of 'sport'"):
        folders = text_dataset(directory=str(root), verbose=False)
    assert folders.report.flagged[0][0] == str(root / "sprot" / "0.txt")


def test_a_rare_inferred_ner_tag_is_flagged_with_its_line(tmp_path):
    path = tmp_path / "ner.txt"
    path.write_text("Paris\tB-loc\nis\tO\n\n" * 12 + "Rome\tB-lco\nis\tO\n")
    with pytest.warns(UserWarning, match="tag 'B-lco' has only 1 example") as caught:
        data = token_dataset(path=str(path), verbose=False)
    assert "B-lco" in data.tag_names and f"{path}:37 word 1" in data.report.flagged[0][0]
    assert "likely a typo of 'B-loc'" in str(caught[0].message) and "tag_names=" in str(caught[0].message)
    with pytest.raises(ValueError, match=f"{path}:37: 'B-lco'"):
        token_dataset(path=str(path), tag_names=["O", "B-loc"], verbose=False)


def test_non_finite_targets_from_files_are_skipped_and_listed(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("text,score\ngood,4.5\nbad,inf\nmeh,-Infinity\nok,2\n")
    data = text_dataset(path=str(path), label_column="score", label_mode="float", shuffle=False,
                        verbose=False)
    assert [y for _, ys in data for y in ys.numpy().tolist()] == [4.5, 2.0]
    assert data.report.skipped == [(f"{path}:3", "non-finite target 'inf'"),
                                   (f"{path}:4", "non-finite target '-Infinity'")]
    jsonl = tmp_path / "scores.jsonl"
    jsonl.write_text('{"text": "a", "y": 1e999}\n{"text": "b", "y": 3.0}\n{"text": "c", "y": 1.0}\n')
    data = text_dataset(path=str(jsonl), label_column="y", verbose=False)
    assert data.info.label_mode == "float" and data.report.skipped == [(f"{jsonl}:1", "non-finite target inf")]


def test_non_finite_in_memory_values_are_errors_naming_them():
    with pytest.raises(ValueError, match=r"1 of 3 labels are not finite \(NaN or inf\): texts\[1\]=nan") as info:
        text_dataset(texts=["a", "b", "c"], labels=[1.0, float("nan"), 2.0], verbose=False)
    assert "np.isfinite" in str(info.value)
    images = np.full((6, 8, 8, 3), 100.0)
    images[[1, 4], 2, 3, 0] = [np.nan, np.inf]
    with pytest.raises(ValueError, match=r"2 of 6 images hold NaN or inf pixels \(first: images\[1, 4\]\)") as info:
        image_dataset(images=images, labels=np.arange(6) % 2, verbose=False)
    assert "Received: images with non-finite pixels at indices [1, 4]" in str(info.value)
    targets = np.linspace(0, 1, 6).astype("float32")
    targets[5] = np.inf
    with pytest.raises(ValueError, match=r"1 of 6 labels are not finite \(NaN or inf\): labels\[5\]=inf"):
        image_dataset(images=np.full((6, 8, 8, 3), 100.0), labels=targets, verbose=False)
    rows = np.eye(3, dtype="float32")[[0, 1, 2, 0, 1, 2]]
    rows[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"labels\[2\]=\[0.0, nan, 1.0\]"):
        image_dataset(images=np.full((6, 8, 8, 3), 100.0), labels=rows, verbose=False)
