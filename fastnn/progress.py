"""The verbose=1 progress bar: tqdm, updated between fused kernel calls."""


class EpochProgress:
    """One bar per epoch over samples, showing loss, metrics and samples/s."""

    def __init__(self, epoch, epochs, total, enabled):
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm  # imported on first use: ~13 ms off ``import fastnn``

            self.bar = tqdm(total=total, desc=f"Epoch {epoch + 1}/{epochs}", unit="sample",
                            leave=True, dynamic_ncols=True)

    def update(self, samples, logs):
        if self.bar is not None:
            self.bar.update(samples)
            self.bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)

    def close(self, logs=None):
        if self.bar is not None:
            if logs:
                self.bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)
            self.bar.close()
            self.bar = None
