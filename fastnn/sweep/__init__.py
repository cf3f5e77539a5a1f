"""``sweep``: train a grid of configurations as groups of ``fit_many`` calls, in
process, on a ``concurrent.futures`` executor, or on a Dask cluster.

Every configuration is built on the caller's side first (cheap: weights only), so
bad input and unknown metrics fail before any training, and configurations of one
architecture, dtype, loss, metrics and optimizer class are grouped. A task trains
up to ``models_per_task`` models of one group with one ``fit_many`` call and sends
back plain numbers and, for its best model, the model's .npz file as bytes.

Results do not depend on where a configuration trains: its initial weights come
from the sweep's seed and its index alone (``fastnn.set_random_seed`` is in effect
while ``build`` runs), and every task shuffles with the sweep's seed.
"""
from .search import SweepResult, sweep

__all__ = ["sweep", "SweepResult"]
