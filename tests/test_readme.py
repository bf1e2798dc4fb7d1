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
