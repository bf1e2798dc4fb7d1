"""The README's command that opens the notebooks starts JupyterLab from the venv, with a kernel."""

import json
import os
import pathlib
import re
import shlex
import socket
import subprocess
import time
import urllib.request

from jupyter_client import BlockingKernelClient

ROOT = pathlib.Path(__file__).resolve().parent.parent
TOKEN = "tl-suite-test"


def _readme_command():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Notebooks"):]
    return shlex.split(re.search(r"```bash\n(.*?)\n```", section, re.S).group(1))


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _api(port, path, method="GET"):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
        return response.status, json.loads(body) if body and path.startswith("/api") else body


def test_readme_command_opens_the_notebooks_with_a_python_kernel(tmp_path):
    command = _readme_command()
    assert command[:2] == [".venv/bin/jupyter", "lab"]
    port = _free_port()
    command += ["--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
                f"--IdentityProvider.token={TOKEN}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # as the README says for containers
    printed = []
    environment = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    with open(tmp_path / "server.log", "w") as log:
        server = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                  env=environment)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                _api(port, "/api/status")
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "server.log").read_text()
                assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
                time.sleep(1)
        _, listing = _api(port, "/api/contents")
        names = {item["name"] for item in listing["content"]}
        assert {path.name for path in (ROOT / "notebooks").glob("*.ipynb")} <= names
        status, page = _api(port, "/lab/tree/01_image_classification.ipynb")
        assert status == 200 and b"JupyterLab" in page
        _, specs = _api(port, "/api/kernelspecs")
        assert specs["default"] == "python3"
        _, kernel = _api(port, "/api/kernels", method="POST")
        try:  # the server's kernel runs the venv's Python, with tl_suite and ipywidgets
            client = BlockingKernelClient(connection_file=str(
                tmp_path / "runtime" / f"kernel-{kernel['id']}.json"))
            client.load_connection_file()
            client.start_channels()
            client.wait_for_ready(timeout=120)
            code = "import sys, ipywidgets, tl_suite; print(sys.prefix)"
            reply = client.execute_interactive(code, timeout=300, output_hook=printed.append)
            client.stop_channels()
        finally:
            _api(port, f"/api/kernels/{kernel['id']}", method="DELETE")
        assert reply["content"]["status"] == "ok"
        assert [os.path.realpath(m["content"]["text"].strip()) for m in printed
                if m["msg_type"] == "stream"] == [os.path.realpath(ROOT / ".venv")]
    finally:
        server.terminate()
        server.wait(timeout=60)
