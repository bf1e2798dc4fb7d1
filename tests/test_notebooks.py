"""Execute every notebook with small parameters (like papermill: a cell after "parameters")."""

import pathlib
import re

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
SMALL_PARAMETERS = {
    "01_image_classification.ipynb": {"TRAIN_SIZE": 200, "TEST_SIZE": 100, "EPOCHS": 1},
    "02_text_classification.ipynb": {"MAX_EXAMPLES": 100, "EPOCHS": 2},
    "03_named_entity_recognition.ipynb": {"MAX_EXAMPLES": 80, "EPOCHS": 2},
    "04_text_regression.ipynb": {"MAX_EXAMPLES": 100, "EPOCHS": 2},
    "05_fine_tuning.ipynb": {"IMAGE_TRAIN": 96, "IMAGE_TEST": 64, "HEAD_EPOCHS": 1,
                             "UNFROZEN_EPOCHS": 1, "NER_EXAMPLES": 60, "NER_HEAD_EPOCHS": 1,
                             "NER_EPOCHS": 1, "LORA_EPOCHS": 1, "LR_FINDER_STEPS": 10},
    "06_inspect_and_explain.ipynb": {"IMAGE_TRAIN": 160, "IMAGE_TEST": 64, "IMAGE_EPOCHS": 1,
                                     "TEXT_EXAMPLES": 100, "TEXT_EPOCHS": 2, "NER_EXAMPLES": 80,
                                     "NER_EPOCHS": 2},
}


def test_every_notebook_has_small_parameters():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(SMALL_PARAMETERS)


def _execute(name, overrides, log_dir):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    index = next(i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", []))
    values = {**overrides, "LOG_DIR": str(log_dir)}
    source = "\n".join(f"{key} = {value!r}" for key, value in values.items())
    injected = nbformat.v4.new_code_cell(source)
    injected.metadata["tags"] = ["injected-parameters"]
    notebook.cells.insert(index + 1, injected)
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return notebook


def _text(notebook):
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def _has_image(notebook):
    return any("image/png" in output.get("data", {})
               for cell in notebook.cells for output in cell.get("outputs", []))


# Progress in a notebook is one live widget per step (tqdm.notebook with ipywidgets), not text
# redrawn per update (which nbclient keeps as one stream output per flush: 239 in one cell).
_WIDGET = "application/vnd.jupyter.widget-view+json"
_PROGRESS_LINE = re.compile(r"^(Frozen features|Training|Predicting|Epoch \d+/)|━|\d+/\d+ \[", re.M)
MAX_STREAM_OUTPUTS = 20  # per cell: prints plus flushes; a bar redrawn per update made hundreds
MAX_PROGRESS_LINES = 3  # per cell, in its text outputs
LONG_CALLS = ("tl_suite.fit(", "tl_suite.fine_tune(", "tl_suite.find_learning_rate(")


def _outputs(cell, kind):
    return [output for output in cell.get("outputs", []) if output.get("output_type") == kind]


def _stderr_outputs(notebook):
    return [(index, output.get("text", "")[:300]) for index, cell in enumerate(notebook.cells)
            for output in _outputs(cell, "stream") if output.get("name") == "stderr"]


def _progress_problems(notebook):
    """Cells whose progress is text redrawn or repeated, or that train without a progress bar."""
    problems = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        streams = _outputs(cell, "stream")
        text = "".join(output.get("text", "") for output in streams)
        lines = _PROGRESS_LINE.findall(text)
        if len(streams) > MAX_STREAM_OUTPUTS or len(lines) > MAX_PROGRESS_LINES:
            problems.append(f"cell {index}: {len(streams)} stream outputs, {len(lines)} progress lines")
        if "\r" in text or "\b" in text:
            problems.append(f"cell {index}: a text bar redrawn in place: {text[:200]!r}")
        widgets = [o for o in _outputs(cell, "display_data") if _WIDGET in o.get("data", {})]
        if any(call in cell.source for call in LONG_CALLS) and not widgets:
            problems.append(f"cell {index}: trains without a progress bar")
    return problems


@pytest.mark.parametrize("name", sorted(SMALL_PARAMETERS))
def test_notebook_executes(name, tmp_path):
    notebook = _execute(name, SMALL_PARAMETERS[name], tmp_path / "logs")
    text = _text(notebook)
    assert "Traceback" not in text
    if name.startswith("01"):
        assert "Test accuracy:" in text and "ankle boot" in text
        assert "reloaded: classification" in text and "top_labels" in text
    if name.startswith("02"):  # early stopping on a validation split
        assert "Validation accuracy:" in text and "business" in text and "best validation loss" in text
    if name.startswith("03"):
        assert "'f1':" in text and "Giants" in text  # entity scores and tagged examples
    if name.startswith("04"):
        assert "r2:" in text and "micro_f1" in text
    if name.startswith("05"):
        assert "Test accuracy: frozen" in text and "LoRA rank 8" in text and "adapter file" in text
    if name.startswith("06"):  # top losses, most confused, Grad-CAM, word and entity attributions
        assert "most confused" in text and "heat on the garment" in text and "top words" in text
        assert "Giants" in text and "probability" in text
    assert _has_image(notebook)  # confusion matrix / per-type F1 / scatter plot shown
    assert not _stderr_outputs(notebook)  # no TensorFlow C++ lines, no warnings
    assert not _progress_problems(notebook)
    assert any((tmp_path / "logs").rglob("evaluation"))
