import numpy as np

from tl_suite.data.report import DataReport


def test_summary_lists_notes_skips_and_ignored_files():
    report = DataReport(source="photos", unit="images", per_class={"cat": 3, "dog": 2})
    report.used = 5
    report.note("converted: CMYK converted to RGB")
    report.note("converted: CMYK converted to RGB", 2)
    report.note("nothing happened", 0)
    report.skip("photos/cat/a.jpg", "corrupt")
    report.ignored_files.append("photos/cat/notes.txt")
    assert report.notes == {"converted: CMYK converted to RGB": 3}
    assert str(report).split("\n") == [
        "Read photos: 5 images used in 2 classes (cat: 3, dog: 2).",
        "  3: converted: CMYK converted to RGB",
        "  skipped 1:",
        "    photos/cat/a.jpg: corrupt",
        "  ignored 1 files of another type (see report.ignored_files)",
    ]


def test_long_skip_lists_are_shortened():
    report = DataReport(source="data.csv")
    for row in range(25):
        report.skip(f"data.csv:{row + 2}", "missing value in column 'text'")
    lines = str(report).split("\n")
    assert lines[0] == "Read data.csv: 0 examples used." and lines[1] == "  skipped 25:"
    assert len(lines) == 2 + 20 + 1 and lines[-1] == "    ... and 5 more (see report.skipped)"
    assert len(report.skipped) == 25


def test_count_classes_from_ids_and_multi_hot_rows():
    report = DataReport(source="texts")
    report.count_classes(np.array([0, 2, 2, 0, 0], "int32"), ["a", "b", "c"])
    assert report.per_class == {"a": 3, "b": 0, "c": 2} and report.class_names == ["a", "b", "c"]
    report.count_classes(np.array([[1, 1, 0], [0, 1, 0]], "float32"), ["x", "y", "z"])
    assert report.per_class == {"x": 1, "y": 2, "z": 0}
    regression = DataReport(source="texts")
    regression.count_classes(np.array([0.5, 1.5], "float32"), None)
    assert regression.per_class == {} and "classes" not in str(regression)
