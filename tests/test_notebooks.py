"""Execute every notebook with small parameters (like papermill: a cell after "parameters")."""

import pathlib

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


@pytest.mark.parametrize("name", sorted(SMALL_PARAMETERS))
def test_notebook_executes(name, tmp_path):
    notebook = _execute(name, SMALL_PARAMETERS[name], tmp_path / "logs")
    text = _text(notebook)
    assert "Traceback" not in text
    if name.startswith("01"):
        assert "Test accuracy:" in text and "ankle boot" in text
        assert "reloaded: classification" in text and "top_labels" in text
    if name.startswith("02"):
        assert "Test accuracy:" in text and "business" in text
    if name.startswith("03"):
        assert "'f1':" in text and "Giants" in text  # entity scores and tagged examples
    if name.startswith("04"):
        assert "r2:" in text and "micro_f1" in text
    if name.startswith("05"):
        assert "Test accuracy: frozen" in text and "LoRA rank 8" in text and "adapter file" in text
    assert _has_image(notebook)  # confusion matrix / per-type F1 / scatter plot shown
    assert any((tmp_path / "logs").rglob("evaluation"))
