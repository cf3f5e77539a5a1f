"""Skip markers shared by test modules (the tests folder is on sys.path under pytest)."""
import pytest

from fastnn.datasets import DatasetNotFoundError, fashion_mnist


def _fashion_mnist_present():
    try:
        fashion_mnist.load_data(download=False)
    except DatasetNotFoundError:
        return False
    return True


needs_fashion_mnist = pytest.mark.skipif(
    not _fashion_mnist_present(),
    reason="Fashion-MNIST is not installed locally (apt-get install dataset-fashion-mnist, "
           "or set FASTNN_DATA); the tests do not download it")
