"""What the fastnn package imports: never the frameworks it is benchmarked against.

The peers (JAX, Keras, PyTorch, ...) are the fastnn-peers distribution in ``peers/``;
``fastnn bench`` uses them when they are installed and says how to get them when not.
"""
import ast
import pathlib
import re
import subprocess
import sys

import pytest

import fastnn
import fastnn.kernels
from fastnn import cli

FRAMEWORKS = ("jax", "keras", "torch")
PACKAGE = pathlib.Path(fastnn.__file__).parent
KERNELS = pathlib.Path(fastnn.kernels.__file__).parent


def imported_modules(source):
    """Every module name an ``import`` or ``from ... import`` statement of ``source``
    names, and every literal that ``importlib.import_module``/``__import__`` is given."""
    names = []
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.append(node.module)
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant)
              and getattr(node.func, "attr", getattr(node.func, "id", None))
              in ("import_module", "__import__")):
            names.append(node.args[0].value)
    return names


def test_no_module_of_the_package_imports_jax_keras_or_torch():
    sources = sorted(PACKAGE.rglob("*.py")) + sorted(KERNELS.rglob("*.py"))
    assert PACKAGE / "cli" / "bench.py" in sources
    offenders = [f"{source.relative_to(PACKAGE.parent)}: import {name}"
                 for source in sources for name in imported_modules(source)
                 if name.split(".")[0] in FRAMEWORKS]
    assert offenders == []


def test_the_scan_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "module.py"
    source.write_text("def f():\n    import jax.numpy as jnp\n    from torch import nn\n"
                      "    importlib.import_module('keras')\n    from .jax import x\n")
    assert imported_modules(source) == ["jax.numpy", "torch", "keras"]


def test_importing_fastnn_and_its_cli_loads_no_framework():
    code = ("import sys, fastnn, fastnn.cli, fastnn.many_bench, fastnn.datasets.arrays; "
            "print(sorted({'jax', 'keras', 'torch', 'fastnn_peers'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_modules_of_the_cli_and_datasets_stay_under_600_lines():
    for source in [*(PACKAGE / "cli").glob("*.py"), *(PACKAGE / "datasets").glob("*.py"),
                   PACKAGE / "many_bench.py"]:
        assert len(source.read_text().splitlines()) <= 600, source


# ------------------------------------------------------------- bench without the peers
@pytest.fixture
def no_peers(monkeypatch):
    """fastnn_peers not importable, as in an install from a wheel."""
    monkeypatch.setitem(sys.modules, "fastnn_peers", None)
    monkeypatch.setitem(sys.modules, "fastnn_peers.jax", None)


def test_bench_without_the_peers_times_fastnn_and_says_how_to_get_them(capsys, no_peers):
    status = cli.main(["bench", "--synthetic", "--samples", "300", "--repeats", "1",
                       "--batch-size", "100", "--hidden", "8"])
    out = capsys.readouterr().out
    assert status == 0
    assert re.search(r"^fastnn\s+100\s+[0-9.]+\s+[0-9.]+\s+1\.00x$", out, re.MULTILINE)
    assert not re.search(r"^(numpy reference|pytorch|scikit-learn|jax|keras)\s+100", out,
                         re.MULTILINE)
    assert ("note: numpy reference, pytorch, scikit-learn, jax, keras: skipped, the "
            "benchmark peers are the fastnn-peers package in fastnn's source repository: "
            "from a checkout, pip install -e ./peers, then the libraries to compare with "
            "(pip install -e \"./peers[all]\" adds torch, scikit-learn, jax and keras)") in out


def test_bench_fastnn_alone_needs_no_peers(capsys, no_peers):
    status = cli.main(["bench", "--synthetic", "--samples", "200", "--repeats", "1",
                       "--batch-size", "100", "--hidden", "8", "--frameworks", "fastnn"])
    out = capsys.readouterr().out
    assert status == 0 and "note:" not in out


def test_bench_models_without_the_peers_has_no_vmap_row(capsys, no_peers):
    status = cli.main(["bench", "--models", "2", "--problem", "tabular", "--optimizer", "sgd",
                       "--batch-size", "4096", "--repeats", "1"])
    out = capsys.readouterr().out
    assert status == 0
    assert "; no JAX vmap row: the benchmark peers are the fastnn-peers package" in out
    assert "jax_vmap" not in out and "sequential / fit_many" in out
