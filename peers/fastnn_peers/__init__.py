"""The engines fastnn is benchmarked against, one module per peer, one interface.

``fastnn bench`` and the asv suite (``asv_benchmarks/benchmarks/baselines.py``) time
these beside fastnn; they live outside the ``fastnn`` package so that fastnn never
imports the frameworks it is compared with. Every peer class takes
``(weights, x, y, optimizer=, learning_rate=, momentum=, activation=, seed=)`` and has
``prepare(batch_size, n=None)``, ``epoch(batch_size, n=None)``, ``predict(x)``,
``get_weights()`` and ``set_weights(weights)`` (:class:`fastnn_peers.base.Peer`).

Importing this package, or any of its modules, imports none of the peers' libraries:
each is imported when its peer is built.

Examples
--------
>>> import fastnn_peers  # doctest: +SKIP
>>> peer = fastnn_peers.make_peer("reference", model.get_weights(), x, y,
...                               optimizer="sgd", momentum=0.9)  # doctest: +SKIP
>>> peer.prepare(32); peer.epoch(32)  # doctest: +SKIP
"""
import importlib

from .base import Peer, optimizer_config, optimizer_settings

# name -> (module, class, the library it imports)
PEERS = {
    "reference": ("fastnn_peers.reference", "ReferencePeer", "numpy"),
    "torch": ("fastnn_peers.torch", "TorchPeer", "torch"),
    "sklearn": ("fastnn_peers.sklearn", "SklearnPeer", "sklearn"),
    "jax": ("fastnn_peers.jax", "JaxPeer", "jax"),
    "keras": ("fastnn_peers.keras", "KerasPeer", "keras"),
}


def peer_class(name):
    """The class of peer ``name`` (importing its module, not its library).

    Parameters
    ----------
    name : {"reference", "torch", "sklearn", "jax", "keras"}

    Returns
    -------
    type
        A subclass of :class:`fastnn_peers.base.Peer`.

    Raises
    ------
    ValueError
        For an unknown name.
    """
    if name not in PEERS:
        raise ValueError(f"unknown peer {name!r}; expected one of {', '.join(PEERS)}")
    module, cls, _ = PEERS[name]
    return getattr(importlib.import_module(module), cls)


def make_peer(name, weights, x, y, **settings):
    """A peer, built from initial weights, the data and the optimizer settings.

    Parameters
    ----------
    name : {"reference", "torch", "sklearn", "jax", "keras"}
    weights : list of numpy.ndarray
        ``[W0, b0, W1, b1, ...]``, W as (inputs, units).
    x, y : numpy.ndarray
        Training inputs (n, inputs) and integer labels (n,).
    **settings
        optimizer, learning_rate, momentum, activation, seed; ``threads`` for torch.

    Returns
    -------
    fastnn_peers.base.Peer

    Raises
    ------
    ImportError
        When the peer's library does not import.
    ValueError
        For settings the peer cannot run.
    """
    return peer_class(name)(weights, x, y, **settings)


def unsupported(name, optimizer, activation):
    """Why peer ``name`` cannot train with these settings, or None (no library import).

    Returns
    -------
    str or None
    """
    return peer_class(name).unsupported(optimizer, activation)


def describe(name):
    """One line naming the library's version and how the peer trains (jax, keras).

    Parameters
    ----------
    name : {"jax", "keras"}

    Returns
    -------
    str
    """
    if name not in ("jax", "keras"):
        raise ValueError(f"describe: expected 'jax' or 'keras', got {name!r}")
    return importlib.import_module(PEERS[name][0]).describe()


__all__ = ["PEERS", "Peer", "describe", "make_peer", "optimizer_config",
           "optimizer_settings", "peer_class", "unsupported"]
