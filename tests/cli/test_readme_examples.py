"""The README's "Command line" examples run: every ```bash block of that section, in order,
in one fresh folder, offline, on the real weights (hence `slow`)."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
HEADING = "## Command line"


def bash_blocks(text, heading=HEADING):
    """The ```bash blocks between ``heading`` and the next ``## `` heading of ``text``."""
    section = text[text.index(heading) + len(heading):]
    end = section.find("\n## ")
    return re.findall(r"```bash\n(.*?)```", section if end < 0 else section[:end], re.S)


def run_blocks(blocks, folder):
    """Run ``blocks`` one after the other in ``folder`` with this venv's ``tl-suite`` and
    ``python`` first on PATH; a failing command fails the block."""
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
                       PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]]))
    for block in blocks:
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=folder,
                                env=environment, capture_output=True, text=True, timeout=1200)
        assert result.returncode == 0, f"{block}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


@pytest.mark.slow
def test_command_line_examples_of_the_readme_run(tmp_path):
    text = (ROOT / "README.md").read_text()
    if HEADING not in text:
        pytest.skip("the README has no Command line section yet")
    blocks = bash_blocks(text)
    assert blocks, "the Command line section shows no ```bash example"
    run_blocks(blocks, tmp_path)
    assert (tmp_path / "predictions.csv").read_text().startswith("input,label,probability")
    assert (tmp_path / "serving" / "fashion" / "1" / "MODEL_CARD.md").exists()
