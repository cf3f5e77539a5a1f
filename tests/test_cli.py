"""The ``fastnn`` command line: help texts, train, bench, info and clean error exits."""
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn import cli
from fastnn.cli import bench as cli_bench
from markers import needs_fashion_mnist

SCRIPT = Path(sys.executable).with_name("fastnn")


def run(capsys, *argv):
    """(exit status, stdout, stderr) of ``fastnn ARGV`` run in this process."""
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def summary_value(out, label):
    """The number after ``label:`` in train's summary."""
    match = re.search(rf"^{label}:\s+([0-9.,]+)", out, re.MULTILINE)
    assert match, f"no {label!r} line in:\n{out}"
    return float(match.group(1).replace(",", ""))


def bench_rows(out):
    """{(framework, batch): (median, min, ratio)} parsed from the bench table."""
    rows = {}
    pattern = (r"^(fastnn|numpy reference|pytorch|scikit-learn|jax|keras)\s+(\d+)\s+([0-9.]+)"
               r"\s+([0-9.]+)\s+([0-9.]+)x$")
    for name, batch, median, best, ratio in re.findall(pattern, out, re.MULTILINE):
        rows[name, int(batch)] = (float(median), float(best), float(ratio))
    return rows


# ----------------------------------------------------------------------------- help
def test_top_level_help_lists_commands_and_examples(capsys):
    status, out, _ = run(capsys, "--help")
    assert status == 0
    assert out.startswith("usage: fastnn ")
    for command in ("train", "bench", "info"):
        assert re.search(rf"^\s+{command}\s+\w", out, re.MULTILINE), command
    assert "examples:" in out and "fastnn train --epochs 5" in out


def test_train_help_shows_defaults_and_an_example(capsys):
    status, out, _ = run(capsys, "train", "--help")
    assert status == 0
    assert "784-64-64-10" in out
    flat = " ".join(out.split())
    for option, default in [("--hidden SIZES", "64,64"), ("--epochs EPOCHS", "20"),
                            ("--batch-size N", "32"), ("--optimizer", "adam"),
                            ("--activation", "relu"), ("--dtype", "float32"),
                            ("--dataset", "fashion_mnist"), ("--verbose", "1")]:
        assert option in out
        assert f"(default: {default})" in flat, option
    for option in ("--lr", "--momentum", "--seed", "--threads", "--device", "--save",
                   "--data-dir", "--samples", "--synthetic"):
        assert option in out
    assert "(default: None)" not in flat and "(default: False)" not in flat
    assert "examples:" in out and "fastnn train --hidden 128,64" in out


def test_bench_help_shows_defaults_and_an_example(capsys):
    status, out, _ = run(capsys, "bench", "--help")
    assert status == 0
    flat = " ".join(out.split())
    assert "(default: 32,128,1024)" in flat
    assert ("--repeats REPEATS timed rounds (one epoch of each framework) per batch size "
            "(default: 3)") in flat
    assert "ReferenceMLP" in flat and "--synthetic" in out
    assert "examples:" in out and "fastnn bench --batch-size 32,128,1024" in out


def test_python_dash_m_fastnn_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "fastnn", "--help"], capture_output=True,
                            text=True, check=True)
    assert result.stdout.startswith("usage: fastnn ")


@pytest.mark.skipif(not SCRIPT.exists(), reason=f"console script {SCRIPT} not installed "
                                                 "(pip install -e .)")
def test_console_script_version():
    result = subprocess.run([str(SCRIPT), "--version"], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == f"fastnn {fastnn.__version__}"


def test_no_command_is_a_usage_error(capsys):
    status, _, err = run(capsys)
    assert status == 2
    assert "the following arguments are required: COMMAND" in err


# ---------------------------------------------------------------------------- train
def test_train_synthetic_saves_a_model_that_reproduces_the_reported_accuracy(capsys,
                                                                               tmp_path):
    path = tmp_path / "model.npz"
    status, out, _ = run(capsys, "train", "--synthetic", "--samples", "600", "--epochs", "5",
                         "--hidden", "16", "--verbose", "0", "--seed", "3",
                         "--save", str(path))
    assert status == 0
    assert "784-16-10 (relu hidden, softmax output)" in out
    assert "synthetic data, 600 training / 100 test samples" in out
    accuracy = summary_value(out, "Test accuracy")
    loss = summary_value(out, "Test loss")
    assert accuracy > 0.9  # the synthetic classes are separable
    assert summary_value(out, "Training") > 0
    assert summary_value(out, "Total time") > 0
    assert f"Saved model:     {path}" in out

    model = fastnn.load_model(path)
    assert [layer.units for layer in model.layers] == [16, 10]
    assert model.dtype == np.float32 and model.epochs_completed == 5
    _, (x_test, y_test) = cli.synthetic_data(600, 3, "float32")
    scores = model.evaluate(x_test, y_test)
    assert scores["accuracy"] == pytest.approx(accuracy, abs=6e-5)
    assert scores["loss"] == pytest.approx(loss, abs=6e-5)


@pytest.mark.parametrize("target, message", [
    ("missing/m.npz", "the directory {tmp}/missing does not exist"),
    (".", "is a directory; give a file name such as"),
])
def test_train_checks_the_save_path_before_training(capsys, tmp_path, monkeypatch, target,
                                                    message):
    monkeypatch.chdir(tmp_path)
    fitted = []
    monkeypatch.setattr(fastnn.Sequential, "fit", lambda *a, **k: fitted.append(1))
    status, _, err = run(capsys, "train", "--synthetic", "--samples", "200", "--epochs", "1",
                         "--save", target)
    assert status == 2 and not fitted
    assert message.format(tmp=tmp_path) in err


def test_train_a_network_too_large_for_memory_exits_2(capsys, monkeypatch):
    def no_memory(self, input_dim=None):
        raise MemoryError("Unable to allocate 291. GiB for an array with shape (78400000000,)")

    monkeypatch.setattr(fastnn.Sequential, "build", no_memory)
    status, _, err = run(capsys, "train", "--synthetic", "--samples", "200", "--epochs", "1",
                         "--hidden", "100000000")
    assert status == 2
    assert "fastnn train: error: Unable to allocate 291. GiB" in err


def test_train_options_reach_the_model(capsys, tmp_path):
    path = tmp_path / "sgd.npz"
    status, out, _ = run(capsys, "train", "--synthetic", "--samples", "300", "--epochs", "1",
                         "--hidden", "8,4", "--activation", "tanh", "--optimizer", "sgd",
                         "--lr", "0.05", "--momentum", "0.9", "--dtype", "float64",
                         "--batch-size", "16", "--threads", "1", "--verbose", "0",
                         "--save", str(path))
    assert status == 0
    assert "784-8-4-10 (tanh hidden, softmax output)" in out
    assert "SGD (learning_rate 0.05, momentum 0.9); batch size 16; 1 epoch;" in out
    model = fastnn.load_model(path)
    assert model.dtype == np.float64
    assert [layer.activation for layer in model.layers] == ["tanh", "tanh", "softmax"]
    assert model.optimizer.momentum == 0.9 and model.optimizer.learning_rate == 0.05
    assert model.optimizer.iterations == -(-300 // 16)


def test_train_verbose_prints_summary_and_progress(capsys):
    status, out, err = run(capsys, "train", "--synthetic", "--samples", "200", "--epochs", "2",
                           "--hidden", "8", "--verbose", "1")
    assert status == 0
    assert "Total params: 6,370" in out  # model.summary(): 784*8+8 + 8*10+10
    assert "Epoch 1/2" in err and "Epoch 2/2" in err  # the tqdm bars


def test_train_verbose_2_prints_one_line_per_epoch(capsys):
    status, out, _ = run(capsys, "train", "--synthetic", "--samples", "200", "--epochs", "2",
                         "--hidden", "8", "--verbose", "2")
    assert status == 0
    assert re.search(r"^Epoch 2/2 - loss: [0-9.]+ - accuracy: [0-9.]+$", out, re.MULTILINE)


@needs_fashion_mnist
def test_train_on_a_slice_of_fashion_mnist(capsys):
    status, out, _ = run(capsys, "train", "--samples", "3000", "--epochs", "1",
                         "--hidden", "32", "--verbose", "0")
    assert status == 0
    assert "Fashion-MNIST, 3,000 training / 10,000 test samples" in out
    assert 0.6 < summary_value(out, "Test accuracy") <= 1.0


@needs_fashion_mnist
def test_train_data_dir_is_passed_to_load_data(capsys, tmp_path):
    status, _, err = run(capsys, "train", "--data-dir", str(tmp_path / "nowhere"),
                         "--samples", "500", "--epochs", "1", "--hidden", "8",
                         "--verbose", "0")
    assert status == 0  # not there, so the loader goes on to the installed copy
    assert err == ""


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("hidden, message", [
    ("64,x", "'x' in '64,x' is not an integer"),
    ("64,0", "every size must be >= 1"),
    ("", "'' in '' is not an integer"),
])
def test_bad_hidden_exits_2_with_a_message(capsys, hidden, message):
    status, out, err = run(capsys, "train", "--hidden", hidden)
    assert status == 2 and out == ""
    assert "fastnn train: error: argument --hidden: expected comma-separated" in err
    assert message in err


def test_unknown_dataset_exits_2(capsys):
    status, _, err = run(capsys, "train", "--dataset", "cifar10")
    assert status == 2
    assert "argument --dataset: invalid choice: 'cifar10'" in err


def test_missing_data_reports_the_loaders_message(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    status, out, err = run(capsys, "train", "--dataset", "mnist", "--no-download",
                           "--data-dir", str(tmp_path / "empty"))
    assert status == 2 and out == ""
    assert err.startswith("fastnn train: error: MNIST data not found.\n")
    assert f"{tmp_path / 'empty'} (path= argument): no such directory" in err
    assert "Downloading was disabled" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv, message", [
    (["--optimizer", "adam", "--momentum", "0.9"], "--momentum applies to sgd and rmsprop"),
    (["--optimizer", "sgd", "--momentum", "1.5"], "SGD: momentum must be in [0, 1]"),
    (["--lr", "-1"], "Adam: learning_rate must be a finite number >= 0, got -1.0."),
])
def test_bad_optimizer_values_exit_2(capsys, argv, message):
    status, _, err = run(capsys, "train", "--synthetic", "--samples", "100", *argv)
    assert status == 2
    assert err.startswith(f"fastnn train: error: {message}")
    assert len(err.splitlines()) == 1


def test_too_many_threads_exits_2(capsys):
    import numba
    status, _, err = run(capsys, "train", "--synthetic", "--samples", "100", "--verbose", "0",
                         "--threads", str(numba.config.NUMBA_NUM_THREADS + 1))
    assert status == 2
    assert "exceeds the" in err and "NUMBA_NUM_THREADS" in err


def test_unwritable_save_path_exits_2(capsys, tmp_path):
    target = tmp_path / "missing-dir" / "model.npz"
    status, _, err = run(capsys, "train", "--synthetic", "--samples", "100", "--epochs", "1",
                         "--hidden", "4", "--verbose", "0", "--save", str(target))
    assert status == 2
    assert err.startswith("fastnn train: error: ") and "Traceback" not in err


def test_cuda_without_a_gpu_exits_2(capsys):
    from fastnn import _cuda
    if _cuda.is_available():
        pytest.skip("a CUDA device (or the simulator) is available here")
    status, _, err = run(capsys, "train", "--synthetic", "--samples", "100", "--device", "cuda")
    assert status == 2
    assert err.startswith("fastnn train: error: compile(device='cuda'): ")


def test_errors_through_the_real_entry_point_have_no_traceback():
    result = subprocess.run([sys.executable, "-m", "fastnn", "train", "--hidden", "64,x"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "fastnn train: error: argument --hidden: expected comma-separated positive integers "
        "such as 64,64; 'x' in '64,x' is not an integer")


# ---------------------------------------------------------------------------- bench
def test_bench_synthetic_prints_the_table(capsys):
    status, out, _ = run(capsys, "bench", "--synthetic", "--samples", "2000", "--repeats", "1",
                         "--batch-size", "128")
    assert status == 0
    assert "data: synthetic data, 2,000 samples, float32; optimizer: Adam" in out
    assert re.search(r"^framework\s+batch\s+s/epoch median\s+s/epoch min\s+x fastnn$", out,
                     re.MULTILINE)
    rows = bench_rows(out)
    median, best, ratio = rows["fastnn", 128]
    assert 0 < best <= median and ratio == 1.0
    # One round: the ratio is that round's unrounded times' ratio; the table shows 4
    # decimals and the ratio 2, so the printed times bound it.
    reference = rows["numpy reference", 128]
    low = (reference[0] - 5e-5) / (median + 5e-5)
    high = (reference[0] + 5e-5) / max(median - 5e-5, 1e-12)
    assert low - 0.005 <= reference[2] <= high + 0.005
    for name, module in [("pytorch", "torch"), ("scikit-learn", "sklearn"), ("jax", "jax"),
                         ("keras", "keras")]:
        if importlib.util.find_spec(module) is None:
            assert f"note: {name}: skipped, not installed ({module} is not importable)" in out
        else:
            assert (name, 128) in rows or f"note: {name}: skipped, import failed" in out


def test_bench_models_prints_the_many_models_table(capsys):
    status, out, _ = run(capsys, "bench", "--models", "3", "--problem", "tabular",
                         "--optimizer", "sgd", "--batch-size", "512", "--repeats", "1")
    assert status == 0
    assert "fastnn bench --models 3: tabular problem, sgd, float32" in out
    assert "3 x tabular (8-32-32-1), all models, seconds per epoch" in out
    row = out.strip().splitlines()[-1].split(" | ")
    assert row[0] == "512" and float(row[-1]) > 0  # the FLOP floor
    assert "sequential / fit_many" in out


@pytest.mark.parametrize("argv, message", [
    (["--optimizer", "rmsprop"], "--models times sgd or adam, not rmsprop"),
    (["--problem", "tabular", "--batch-size", "20000"],
     "--batch-size 20000 exceeds the 16384 samples"),
])
def test_bench_models_errors_exit_2(capsys, argv, message):
    status, _, err = run(capsys, "bench", "--models", "2", *argv)
    assert status == 2
    assert message in err


def test_bench_times_frameworks_in_turn_and_takes_the_median_ratio_per_round():
    """Each round times every framework once, starting one framework later each time,
    and the ratio is the median of the rounds' ratios: a load that doubles every
    epoch's time after the first round leaves the ratios exact."""
    calls = []

    def runner(name, seconds):
        def epoch(batch_size, n):
            calls.append(name)
            if n < 100:  # a warm-up
                return 0.0
            timed_calls = len(calls) - 3  # after the 3 warm-ups
            return seconds * (1.0 if timed_calls <= 3 else 2.0)
        return epoch

    runners = {"fastnn": runner("fastnn", 1.0), "numpy": runner("numpy", 3.0),
               "torch": runner("torch", 5.0)}
    rows = cli_bench._bench_rows(runners, [10], 100, 3, settle=0.0)
    assert calls == ["fastnn", "numpy", "torch",  # warm-ups, on 4 batches
                     "fastnn", "numpy", "torch", "numpy", "torch", "fastnn",
                     "torch", "fastnn", "numpy"]
    assert [row[:2] for row in rows] == [("fastnn", 10), ("numpy reference", 10),
                                         ("pytorch", 10)]
    assert [row[2:] for row in rows] == [(2.0, 1.0, 1.0), (6.0, 3.0, 3.0), (10.0, 5.0, 5.0)]


def test_bench_several_batch_sizes_and_frameworks_subset(capsys):
    status, out, _ = run(capsys, "bench", "--synthetic", "--samples", "600", "--repeats", "2",
                         "--batch-size", "32,256", "--optimizer", "sgd", "--momentum", "0.9",
                         "--frameworks", "numpy", "--hidden", "16")
    assert status == 0
    assert "784-16-10" in out and "SGD (learning_rate 0.01, momentum 0.9)" in out
    assert set(bench_rows(out)) == {("fastnn", 32), ("numpy reference", 32),
                                    ("fastnn", 256), ("numpy reference", 256)}


def test_bench_jax_and_keras_peers(capsys):
    status, out, _ = run(capsys, "bench", "--synthetic", "--samples", "256", "--repeats", "1",
                         "--batch-size", "64", "--frameworks", "jax,keras", "--hidden", "16",
                         "--optimizer", "sgd", "--momentum", "0.9")
    assert status == 0
    rows = bench_rows(out)
    for name in ("jax", "keras"):
        if importlib.util.find_spec(name) is None:
            assert f"note: {name}: skipped, not installed ({name} is not importable)" in out
            assert (name, 64) not in rows
        elif (name, 64) not in rows:    # keras without jax: Keras's default backend
            assert f"note: {name}: skipped, import failed: " in out
        else:
            assert rows[name, 64][0] > 0
    if ("jax", 64) in rows:
        assert re.search(r"^note: jax: JAX \S+ on \w+, each epoch one jitted lax.scan", out,
                         re.MULTILINE)
    if ("keras", 64) in rows:
        assert re.search(r"^note: keras: Keras \S+ on the \w+ backend", out, re.MULTILINE)
    assert set(rows) - {("jax", 64), ("keras", 64)} == {("fastnn", 64)}


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="needs scikit-learn")
def test_bench_notes_what_scikit_learn_cannot_run(capsys):
    status, out, _ = run(capsys, "bench", "--synthetic", "--samples", "300", "--repeats", "1",
                         "--batch-size", "100", "--optimizer", "rmsprop",
                         "--frameworks", "sklearn")
    assert status == 0
    assert "note: scikit-learn: skipped, MLPClassifier has no rmsprop solver" in out


@needs_fashion_mnist
def test_bench_on_a_slice_of_fashion_mnist(capsys):
    status, out, _ = run(capsys, "bench", "--samples", "1000", "--repeats", "1",
                         "--batch-size", "250", "--frameworks", "numpy")
    assert status == 0
    assert "data: Fashion-MNIST, 1,000 samples" in out
    assert set(bench_rows(out)) == {("fastnn", 250), ("numpy reference", 250)}


@pytest.mark.parametrize("argv, message", [
    (["--batch-size", "32,abc"], "argument --batch-size: expected comma-separated"),
    (["--frameworks", "fastnn,mxnet"], ("--frameworks: unknown 'mxnet'; expected a "
                                        "comma-separated subset of "
                                        "fastnn,numpy,torch,sklearn,jax,keras")),
    (["--samples", "100", "--batch-size", "500"], "--batch-size 500 exceeds the 100 samples"),
])
def test_bench_errors_exit_2(capsys, argv, message):
    status, _, err = run(capsys, "bench", "--synthetic", *argv)
    assert status == 2
    assert message in err


def test_format_table_ratio_column():
    table = cli.format_table([("fastnn", 32, 0.5, 0.4, 1.0), ("pytorch", 32, 1.5, 1.2, 3.0)])
    lines = table.splitlines()
    assert lines[0].split() == ["framework", "batch", "s/epoch", "median", "s/epoch", "min",
                                "x", "fastnn"]
    assert lines[3].split() == ["pytorch", "32", "1.5000", "1.2000", "3.00x"]


# ----------------------------------------------------------------------------- info
def test_info_reports_versions_blas_threads_and_cuda(capsys):
    import numba
    import numpy
    import scipy
    status, out, _ = run(capsys, "info")
    assert status == 0
    assert out.startswith(f"fastnn {fastnn.__version__} (python ")
    for name, module in [("numpy", numpy), ("numba", numba), ("scipy", scipy)]:
        assert re.search(rf"^  {name}\s+{re.escape(module.__version__)}$", out, re.MULTILINE)
    assert "BLAS and OpenMP libraries (threadpoolctl):" in out
    assert re.search(r"^  blas: \w+", out, re.MULTILINE)
    assert f"NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}" in out
    assert re.search(r"^CUDA: (available|not available|simulator)", out, re.MULTILINE)


# ---------------------------------------------------------------------------- units
def test_int_list_parses_sizes():
    assert cli.int_list("64, 64") == (64, 64)
    assert cli.int_list("128") == (128,)


def test_synthetic_data_is_seeded_and_scaled():
    (x, y), (x_test, y_test) = cli.synthetic_data(120, 5, "float64")
    (x2, _), _ = cli.synthetic_data(120, 5, "float64")
    assert x.shape == (120, 784) and x.dtype == np.float64 and y.shape == (120,)
    assert x_test.shape == (100, 784) and y_test.max() < 10
    assert 0 <= x.min() and x.max() <= 1
    np.testing.assert_array_equal(x, x2)
