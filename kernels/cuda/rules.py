"""The rules of kernels/rules.py compiled as device functions (``cuda.jit(device=True)``)."""
from ._backend import cuda

from ..rules import compile_rules

DEVICE = compile_rules(cuda.jit(device=True))
