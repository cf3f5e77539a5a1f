"""Weight regularizers. Only L2 for now: loss += l2 * sum(W**2) (Keras's form)."""
from ._validation import non_negative_float


class L2:
    """L2 weight penalty ``l2 * sum(W**2)`` added to the loss; gradient ``2 * l2 * W``.

    Parameters
    ----------
    l2 : float, default=0.01
        Penalty strength (Keras's default).
    """

    def __init__(self, l2=0.01):
        self.l2 = non_negative_float("L2", "l2", l2)

    def get_config(self):
        return {"l2": self.l2}


l2 = L2  # Keras spelling: ``kernel_regularizer=regularizers.l2(1e-4)``


def strength(regularizer, where="Dense"):
    """The L2 strength of ``None``, ``"l2"`` or an ``L2`` instance."""
    if regularizer is None:
        return 0.0
    if isinstance(regularizer, L2):
        return regularizer.l2
    if isinstance(regularizer, str) and regularizer.lower() == "l2":
        return L2().l2
    raise ValueError(f"{where}: kernel_regularizer must be None, 'l2' or "
                     f"fastnn.regularizers.L2(...), got {regularizer!r}.")
