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


# Modules still over 600 lines, each the next to split by subject.
LONG_MODULES = set()


def test_modules_of_the_package_stay_under_600_lines():
    sources = sorted(PACKAGE.rglob("*.py")) + sorted(KERNELS.rglob("*.py"))
    assert PACKAGE / "sklearn" / "_base.py" in sources
    long = [f"{source.relative_to(PACKAGE.parent)}: {lines} lines" for source in sources
            if source not in LONG_MODULES
            and (lines := len(source.read_text().splitlines())) > 600]
    assert long == []


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


# ------------------------------------------------------------- no import cycle
def package_modules():
    """{module name: source file} of every module of fastnn and fastnn.kernels."""
    modules = {}
    for root, name in ((PACKAGE, "fastnn"), (KERNELS, "fastnn.kernels")):
        for source in sorted(root.rglob("*.py")):
            parts = source.relative_to(root).with_suffix("").parts
            if any(part == "__pycache__" for part in parts):
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((name, *parts))] = source
    return modules


def import_graph(modules):
    """{module: the package's modules it imports}, from every import statement of its
    source, those inside functions included: an import deferred into a function
    still makes the two modules depend on each other.

    ``from package import name`` depends on the submodule ``package.name`` when
    there is one, else on ``package`` itself (its ``__init__``). A module's parent
    packages, which Python imports first, are not counted.
    """
    graph = {}
    for module, source in modules.items():
        package = module if source.name == "__init__.py" else module.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names if alias.name in modules)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[:len(parts) - node.level + 1] + [node.module or ""])
                    base = base.strip(".")
                else:
                    base = node.module
                for alias in node.names:
                    if f"{base}.{alias.name}" in modules:
                        edges.add(f"{base}.{alias.name}")
                    elif base in modules:
                        edges.add(base)
        edges.discard(module)
        graph[module] = edges
    return graph


def cycles(graph):
    """One import path around each cycle of ``graph``, as lists of module names."""
    found, state = [], {}  # state: 1 on the current path, 2 done

    def visit(module, path):
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                found.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    return found


def test_no_two_modules_of_the_package_import_each_other():
    modules = package_modules()
    assert {"fastnn", "fastnn.model", "fastnn.saving", "fastnn.callbacks.files",
            "fastnn.kernels.network", "fastnn.kernels.cuda"} <= set(modules)
    graph = import_graph(modules)
    assert "fastnn.saving" in graph["fastnn.model_file"]
    assert [" -> ".join(cycle) for cycle in cycles(graph)] == []


def test_the_cycle_check_sees_imports_inside_functions(tmp_path):
    (tmp_path / "__init__.py").write_text("")
    a, b, c = tmp_path / "a.py", tmp_path / "b.py", tmp_path / "c.py"
    a.write_text("from . import b\n")
    b.write_text("import os\ndef f():\n    from .c import g\n")
    c.write_text("from .. import a\n\ndef g():\n    from .a import x\n")
    graph = import_graph({"pkg": tmp_path / "__init__.py", "pkg.a": a, "pkg.b": b,
                          "pkg.c": c})
    assert graph == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": {"pkg.a"}}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]


def test_every_module_of_the_package_imports():
    names = [name for name in package_modules() if not name.startswith("fastnn.kernels.cuda")]
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n")
    subprocess.run([sys.executable, "-c", code], check=True)
