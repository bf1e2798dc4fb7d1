"""The command line, ``tl-suite`` (or ``python -m tl_suite``): ``train``, ``evaluate``,
``predict``, ``export`` and ``backbones``; ``tl-suite COMMAND --help`` describes each.

One module per command (``train.py``, ...), each a thin client of the public Python API;
``parser.py`` assembles them, ``run.py`` runs one and turns user errors into one line on stderr.
``main`` is re-exported here because the console script points at ``tl_suite.cli:main``.

Example:
>>> from tl_suite.cli import main
>>> main(["backbones", "--kind", "text"])
name       kind  offline  description
minilm_l6  text  yes      all-MiniLM-L6-v2 ...
<BLANKLINE>
Text models also take a keras-hub BERT preset name (downloaded) or a local ...
0
"""

from tl_suite.cli.run import main

__all__ = ["main"]
