"""`tl-suite` itself: help of every command, exit codes, one-line errors (in this process and
through ``python -m tl_suite`` in a subprocess)."""

import argparse
import os
import subprocess
import sys

import pytest

from tests.cli.conftest import error_lines
from tl_suite.cli import backbones
from tl_suite.cli.parser import build_parser

COMMANDS = ["train", "evaluate", "predict", "export", "backbones"]


def _subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_each_command_shows_every_flag(cli, command):
    code, out, err = cli(command, "--help")
    assert code == 0 and out.startswith(f"usage: tl-suite {command}")
    for action in _subcommands()[command]._actions:
        for flag in action.option_strings:
            assert flag in out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_flag_has_help_that_gives_its_default(command):
    for action in _subcommands()[command]._actions:
        if action.option_strings and action.dest != "help":
            assert "(default: " in (action.help or ""), (command, action.option_strings)


def test_without_a_command_the_help_goes_to_stderr_with_exit_code_2(cli):
    code, out, err = cli()
    assert code == 2 and "usage: tl-suite" in err and "train" in err


def _run_module(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "tl_suite", *args], capture_output=True,
                          text=True, timeout=300, env=env)


def test_python_m_tl_suite_shows_the_help():
    result = _run_module("train", "--help")
    assert result.returncode == 0, result.stderr
    words = " ".join(result.stdout.split())
    assert "--validation-split FRACTION share of the data held out" in words
    assert "train on everything (default: 0.2)" in words


def test_a_bad_argument_is_one_line_on_stderr_and_exit_code_2_in_a_fresh_process(tmp_path):
    result = _run_module("train", str(tmp_path), "--epochs", "ten")
    lines = error_lines(result.stderr)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert lines == ["tl-suite train: error: argument --epochs: must be an integer >= 1. "
                     "Received: 'ten'. (see `tl-suite train --help`)"]


def test_a_failing_run_is_one_line_with_exit_code_1_and_traceback_on_request(cli, monkeypatch):
    def fail(args):
        raise RuntimeError("Could not load the preset (no internet?)\nOffline alternatives: ...")

    monkeypatch.setattr(backbones, "run", fail)
    code, out, err = cli("backbones")
    assert code == 1
    assert err == ("tl-suite backbones: error: Could not load the preset (no internet?) "
                   "Offline alternatives: ...\n")
    with pytest.raises(RuntimeError):
        cli("--traceback", "backbones")


def test_ctrl_c_exits_with_130_and_says_how_to_resume_a_training(cli, monkeypatch, tmp_path):
    from tl_suite.cli import train

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "run", interrupted)
    code, out, err = cli("train", tmp_path)
    assert code == 130 and "run the same command again to continue it" in err
