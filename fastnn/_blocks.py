"""A group's models in blocks, and the threads that train them (``fastnn.fit_many``).

A group's K models split into blocks of consecutive ones, each trained by one
``kernels.group.train_models`` call over a run of batches; the team's threads take
pieces of blocks from a shared queue and never wait for each other within a call.
"""
import threading

import numpy as np

from . import _threads
from .kernels import group as group_kernels

# Models per block of a group (``model_blocks``). A block's workspace rows hold
# all its models' columns, so each per-model product reads rows that far apart:
# 8 KiB for 64 models of 32 units in float32, every row on the same L1 cache sets.
# 64 x 8-32-32-1 (batch 32, one thread) took 0.163-0.197 s of CPU an epoch in one
# block, 0.145-0.153 in blocks of 16, 0.135-0.139 in blocks of 8, 0.149 of 4;
# layer 2's input-delta product alone 0.46 us a model in blocks of 64, 0.03 of 8.
_BLOCK_MODELS = 8
# A team's call is cut into at most _PIECES runs of at least _PIECE_BATCHES batches
# (``pieces``).
_PIECES = 4
_PIECE_BATCHES = 32


def model_blocks(count):
    """The group's ``count`` models in blocks of consecutive ones: about
    ``_BLOCK_MODELS`` each, and at least one per thread Numba may run (so a few
    models still spread over the cores).

    The blocks do not depend on the team's size (``numba.set_num_threads``): a
    model's rounding can depend on its block (the first layer's wide product), so
    every team gives the same bits. Threads take pieces of the blocks one at a time
    (``PieceQueue``): a thread slowed by other work on its core takes fewer.
    """
    blocks = max(-(-count // _BLOCK_MODELS), min(count, _threads.max_threads()))
    return np.array_split(np.arange(count), blocks)


def pieces(first, last, team, blocks):
    """The batch ranges [a, b) that a call's batches first..last are cut into, each
    run block by block (``PieceQueue``). The team waits for its slowest thread at
    the end of every call: with more blocks than threads, a thread that finishes
    early takes a piece of a block instead of waiting for another's whole call."""
    count = 1
    if blocks > team > 1:
        count = max(1, min(_PIECES, (last - first) // _PIECE_BATCHES))
    bounds = first + (last - first) * np.arange(count + 1) // count
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


class PieceQueue:
    """Hands a team of ``team`` threads (piece, block) pairs: each block's pieces in
    order, one at a time (a block's models step through the batches in sequence),
    the free block least far along first, so the blocks advance together and the last
    pieces spread over the threads.

    Among blocks as far along, the order strides through the group (0, s, 2s, ...,
    then 1, s + 1, ...; s = ceil(blocks / team)), so the threads run blocks far
    apart at the same time. Neighbouring blocks share cache lines at their edges (8
    models' output biases of one unit fill half a line): two threads writing them at
    once cost 64 x 8-32-32-1 on two threads ~10% of its time (0.061-0.063 s of
    kernel time an epoch per thread against 0.056).
    """

    def __init__(self, pieces, blocks, team):
        self._lock = threading.Lock()
        self._pieces = pieces
        self._next = [0] * blocks
        self._busy = [False] * blocks
        stride = -(-blocks // team)
        self._rank = [(block % stride) * team + block // stride for block in range(blocks)]

    def take(self, finished):
        """The next (piece, block) for a thread that has just finished ``block``
        (None at its start), or None when no free block has a piece left."""
        with self._lock:
            if finished is not None:
                self._busy[finished] = False
            free = [block for block, piece in enumerate(self._next)
                    if piece < self._pieces and not self._busy[block]]
            if not free:
                return None
            block = min(free, key=lambda block: (self._next[block], self._rank[block]))
            self._busy[block] = True
            self._next[block] += 1
            return self._next[block] - 1, block


def train_blocks(calls, queue, acts, deltas):
    """One thread's share of a call: the pieces ``queue`` hands it, each a
    ``train_models`` call (``calls[piece][block]``) in this thread's workspaces."""
    item = queue.take(None)
    while item is not None:
        piece, block = item
        totals, net, buffers, *rest = calls[piece][block]
        group_kernels.train_models(totals, net, buffers + (acts, deltas), *rest)
        item = queue.take(block)
