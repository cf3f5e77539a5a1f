"""The seeds' worked examples reproduce their numbers through the public API."""
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def example(name):
    return runpy.run_path(str(EXAMPLES / name), run_name="example")


def test_primer_single_neuron_step():
    output, change = example("primer_single_neuron.py")["single_step"]()
    assert round(output, 7) == 0.6899745
    np.testing.assert_array_equal(np.round(change, 7),
                                  [-0.0203187, -0.0406374, -0.0609561, -0.0812748])


def test_primer_single_neuron_script_prints_the_primer_numbers():
    result = subprocess.run([sys.executable, str(EXAMPLES / "primer_single_neuron.py")],
                            capture_output=True, text=True, check=True)
    assert "0.6899745" in result.stdout
    assert "-0.0203187 -0.0406374 -0.0609561 -0.0812748" in result.stdout


def test_blog_341_network_matches_the_blogs_numpy_loop():
    module = example("blog_numpy_341.py")
    numpy_out, numpy_errors, numpy_syn = module["blog_numpy"]()
    fast_out, fast_errors, fast_weights = module["fastnn_model"]()
    np.testing.assert_allclose(fast_errors, numpy_errors, rtol=1e-13)
    np.testing.assert_allclose(fast_out, numpy_out, rtol=1e-13)
    for fast, expected in zip(fast_weights, numpy_syn):
        np.testing.assert_allclose(fast, expected, rtol=1e-12, atol=1e-14)
    assert numpy_errors[-1] < numpy_errors[0]  # 50 iterations make progress


def test_primer_general_algorithm():
    module = example("primer_general_algorithm.py")
    weights, accuracy = module["fastnn_weights"]()
    np.testing.assert_allclose(weights, module["primer_numpy"](), rtol=1e-12, atol=1e-14)
    assert accuracy > 0.9


@pytest.mark.parametrize("script", ["blog_numpy_341.py", "primer_general_algorithm.py"])
def test_example_scripts_run(script):
    result = subprocess.run([sys.executable, str(EXAMPLES / script)], capture_output=True,
                            text=True, check=True)
    difference = float(result.stdout.split("max |difference|:")[1].split()[0])
    assert difference < 1e-12
