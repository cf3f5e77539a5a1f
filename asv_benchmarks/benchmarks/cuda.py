"""GPU training speed: one epoch on ``device="cuda"`` beside PyTorch on the same GPU.

Skipped (NotImplementedError in setup) without a real CUDA GPU: the simulator is far
too slow to time, and PyTorch's side is skipped when torch has no CUDA.
The grid is batch 128/1024/8192 by width 64/512/4096 (784-W-W-10, float32, SGD
momentum), on synthetic data of ``N_TRAIN`` samples.
"""
import numpy as np

from . import common
from .datasets import synthetic

BATCH_SIZES = [128, 1024, 8192]
WIDTHS = [64, 512, 4096]


def _require_gpu():
    from fastnn import _cuda

    if _cuda.simulator_enabled() or not _cuda.is_available():
        raise NotImplementedError("no CUDA GPU (or only the simulator) on this machine")


class CudaFitEpoch(common.Benchmark):
    """One epoch of ``fit`` with every buffer resident on the GPU."""

    params = (BATCH_SIZES, WIDTHS)
    param_names = ["batch_size", "width"]

    def setup(self, batch_size, width):
        _require_gpu()
        from fastnn import Dense, Sequential

        self.x, self.y = synthetic(common.N_TRAIN, "float32")
        self.model = Sequential([Dense(width, activation="relu", input_dim=common.N_FEATURES),
                                 Dense(width, activation="relu"),
                                 Dense(common.N_CLASSES, activation="softmax")], seed=common.SEED)
        self.model.compile(optimizer=common.make_optimizer("sgd"), loss=common.LOSS,
                           device="cuda")
        common.warm_up(self.model, self.x, self.y, batch_size)

    def time_epoch(self, batch_size, width):
        common.fit_epoch(self.model, self.x, self.y, batch_size)


class TorchCudaEpoch(common.Benchmark):
    """The same epoch in PyTorch on the same GPU (index-slicing loop, no DataLoader)."""

    params = (BATCH_SIZES, WIDTHS)
    param_names = ["batch_size", "width"]

    def setup(self, batch_size, width):
        _require_gpu()
        try:
            import torch
        except ImportError:
            raise NotImplementedError("PyTorch is not installed") from None
        if not torch.cuda.is_available():
            raise NotImplementedError("PyTorch has no CUDA here")
        x, y = synthetic(common.N_TRAIN, "float32")
        self.torch = torch
        self.x = torch.from_numpy(np.ascontiguousarray(x)).cuda()
        self.y = torch.from_numpy(y.astype(np.int64)).cuda()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(common.N_FEATURES, width), torch.nn.ReLU(),
            torch.nn.Linear(width, width), torch.nn.ReLU(),
            torch.nn.Linear(width, common.N_CLASSES)).cuda()
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=common.LEARNING_RATE["sgd"],
                                         momentum=common.MOMENTUM)
        self.loss = torch.nn.CrossEntropyLoss()
        self.batch_size = batch_size
        self.time_epoch(batch_size, width)  # warm-up: kernels, allocator

    def time_epoch(self, batch_size, width):
        order = self.torch.randperm(self.x.shape[0], device="cuda")
        for start in range(0, self.x.shape[0], batch_size):
            rows = order[start:start + batch_size]
            self.optimizer.zero_grad(set_to_none=True)
            self.loss(self.net(self.x[rows]), self.y[rows]).backward()
            self.optimizer.step()
        self.torch.cuda.synchronize()
