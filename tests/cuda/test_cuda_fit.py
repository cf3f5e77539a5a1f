"""Whole fits on device="cuda" reproduce the CPU run (simulator in CI, or a real GPU)."""
import numpy as np
import pytest

from fastnn import Dense, Sequential, _cuda
from fastnn.optimizers import SGD, Adam

pytestmark = pytest.mark.skipif(
    not _cuda.is_available(),
    reason="no CUDA GPU was found and the CUDA simulator is off (run with NUMBA_ENABLE_CUDASIM=1)")


def run(device, optimizer, dtype="float64"):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((37, 6))
    y = rng.integers(0, 3, 37)
    model = Sequential([Dense(5, activation="relu", input_dim=6),
                        Dense(4, activation="tanh"),
                        Dense(3, activation="softmax")], dtype=dtype, seed=2)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], device=device)
    history = model.fit(x, y, epochs=3, batch_size=8, validation_split=0.2, verbose=0)
    return model, history, model.predict(x), model.evaluate(x, y)


@pytest.mark.parametrize("make_optimizer", [lambda: SGD(0.1, momentum=0.9), lambda: Adam(0.01)],
                         ids=["sgd-momentum", "adam"])
def test_fit_on_cuda_gives_the_cpu_weights(make_optimizer):
    cpu, cpu_history, cpu_out, cpu_eval = run("cpu", make_optimizer())
    gpu, gpu_history, gpu_out, gpu_eval = run("cuda", make_optimizer())
    np.testing.assert_allclose(gpu.params, cpu.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gpu._state, cpu._state, rtol=1e-9, atol=1e-15)
    for key in cpu_history.history:
        np.testing.assert_allclose(gpu_history.history[key], cpu_history.history[key], rtol=1e-9)
    np.testing.assert_allclose(gpu_out, cpu_out, rtol=1e-9, atol=1e-12)
    assert gpu_eval == pytest.approx(cpu_eval, rel=1e-9)
    assert gpu.optimizer.iterations == cpu.optimizer.iterations


def test_float32_fit_on_cuda_tracks_the_cpu():
    cpu = run("cpu", Adam(0.01), "float32")[0]
    gpu = run("cuda", Adam(0.01), "float32")[0]
    np.testing.assert_allclose(gpu.params, cpu.params, rtol=1e-4, atol=1e-5)
