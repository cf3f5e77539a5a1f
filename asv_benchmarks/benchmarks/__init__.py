"""fastnn's asv benchmarks: one module per concern (fit, predict, startup, accuracy,
baselines, memory). Shared settings in ``common``, deterministic data in ``datasets``."""
