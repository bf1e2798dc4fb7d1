"""The README's code that can run offline runs (bring-your-own-backbone example)."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def _block_after(heading):
    text = README.read_text()
    section = text[text.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_bring_your_own_backbone_example_runs(capsys):
    exec(compile(_block_after("## Bring your own backbone"), "README.md", "exec"), {})
    printed = capsys.readouterr().out
    groups = eval(printed.strip().splitlines()[-1])
    assert groups[0] == "stem" and groups[-1] == "top"
    assert groups[1:-1] == [f"block{i}" for i in range(11)]


def test_deploy_example_exports_and_serves_with_tensorflow(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(_block_after("## Deploy"), "README.md", "exec"), {})
    lines = capsys.readouterr().out.strip().splitlines()
    assert "MODEL_CARD.md" in lines[0] and "saved_model.pb" in lines[0]
    assert lines[-1].startswith("[b'") and any(name in lines[-1] for name in ("cat", "dog", "fox"))


def test_calibration_example_lowers_the_error(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(_block_after("### Calibrated probabilities"), "README.md", "exec"), {})
    lines = capsys.readouterr().out.strip().splitlines()
    temperature, before, after = (float(value) for value in lines[-3].split())
    assert temperature != 1.0 and after <= before
    assert lines[-2].startswith("Expected calibration error:") and "before it" in lines[-2]
    assert "a perfectly calibrated model would show" in lines[-1]
