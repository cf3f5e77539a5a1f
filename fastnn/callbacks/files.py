"""Callbacks that write files: ``ModelCheckpoint``, ``BackupAndRestore`` and
``CSVLogger``."""
import csv
import os
import re
import string

from .._validation import boolean, file_path, verbosity
from ..model_file import check_savable
from ._monitor import _Monitor
from .base import Callback


def _field_name(field):
    """'val_loss' for the field 'val_loss', 'a' for 'a.b' or 'a[0]'."""
    return re.split(r"[.\[]", field, maxsplit=1)[0]


def _check_format(where, argument, path):
    """Refuse a file name template that could not be filled at an epoch's end.

    Only named fields (``{epoch:02d}``, ``{val_loss:.3f}``) can be filled; a trial
    fill (epoch 1, every other field 0.0) catches bad format specs now rather than
    after the first epoch has trained.
    """
    literal = "double the braces ({{ and }}) for literal ones"
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(path) if f is not None]
    except ValueError as error:
        raise ValueError(f"{where}: {argument} {path!r} is not a valid file name template "
                         f"({error}); {literal}.") from None
    for field in fields:
        if not _field_name(field) or _field_name(field).isdigit():
            raise ValueError(f"{where}: {argument} {path!r} has the positional field "
                             f"{{{field}}}; only named fields such as {{epoch:02d}} or "
                             f"{{val_loss:.3f}} can be filled; {literal}.")
    trial = {_field_name(f): 0.0 for f in fields}
    trial["epoch"] = 1
    try:
        path.format(**trial)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
        raise ValueError(f"{where}: {argument} {path!r} cannot be filled: "
                         f"{type(error).__name__}: {error}. Fields are the 1-based epoch "
                         "(an int) and logged quantities (floats).") from None


class ModelCheckpoint(_Monitor):
    """Save the model (``Sequential.save``) after epochs.

    Parameters
    ----------
    filepath : str or path-like
        May hold named format fields: "ckpt-{epoch:02d}-{val_loss:.3f}.npz" (epoch is
        1-based, the others logged quantities). A missing directory is created at
        the first save, as Keras does.
    monitor : str, default="val_loss"
    verbose : int or bool, default=0
    save_best_only : bool, default=False
        Only overwrite when ``monitor`` improved.
    mode : {"auto", "min", "max"}, default="auto"

    Raises
    ------
    TypeError, ValueError
        An argument of the wrong type or value, or a ``filepath`` template that
        could not be filled (a positional field such as ``{1}``, a bad format spec).

    Notes
    -----
    With ``save_best_only``, an epoch that does not log ``monitor`` warns
    (RuntimeWarning, listing the logged keys) and saves nothing.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 mode="auto"):
        where = "ModelCheckpoint"
        filepath = file_path(where, "filepath", filepath)
        _check_format(where, "filepath", filepath)
        super().__init__(monitor, mode, 0.0)
        self.filepath = filepath
        self.verbose = verbosity(where, verbose)
        self.save_best_only = boolean(where, "save_best_only", save_best_only)
        self.best = self._worst()

    def on_train_begin(self, logs=None):
        # A model no file can hold (a custom optimizer class...) is refused before
        # any epoch trains, not at the first save.
        check_savable(self.model, "ModelCheckpoint")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            value = self._value(logs)
            if value is None or not self._improves(value, self.best):
                return
            self.best = value
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except KeyError as error:
            raise KeyError(f"ModelCheckpoint: filepath {self.filepath!r} names {error}, which "
                           f"epoch {epoch + 1} did not log; available: {sorted(logs)}."
                           ) from None
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self.model.save(path)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved model to {path}")


class BackupAndRestore(Callback):
    """Resume a killed run: back up the whole training state every epoch, restore it on start.

    On ``fit`` start, if ``backup_dir`` holds a backup, the model's weights, optimizer
    state, RNG and epoch counter are restored and training continues from the epoch
    after the last one completed, bitwise as if never interrupted. The backup is
    deleted when training ends normally (``delete_checkpoint=True``).

    Parameters
    ----------
    backup_dir : str or path-like
        Created if missing.
    delete_checkpoint : bool, default=True

    Raises
    ------
    ValueError
        At ``fit`` start, a backup of a different model: other layer widths,
        activations, dtype, loss or optimizer class.
    """

    def __init__(self, backup_dir, delete_checkpoint=True):
        super().__init__()
        self.backup_dir = file_path("BackupAndRestore", "backup_dir", backup_dir)
        self.delete_checkpoint = boolean("BackupAndRestore", "delete_checkpoint",
                                         delete_checkpoint)

    @property
    def path(self):
        return os.path.join(self.backup_dir, "backup.npz")

    def on_train_begin(self, logs=None):
        check_savable(self.model, "BackupAndRestore")
        if os.path.exists(self.path):
            self.model._restore_training_state(self.path)

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.backup_dir, exist_ok=True)
        self.model.save(self.path)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.exists(self.path):
            os.remove(self.path)


class CSVLogger(Callback):
    """Stream one row per epoch (epoch, then every logged quantity) to a CSV file.

    Parameters
    ----------
    filename : str or path-like
        Its directory must exist.
    separator : str, default=","
        One character.
    append : bool, default=False
        Add to an existing file instead of overwriting it.

    Raises
    ------
    TypeError, ValueError
        An argument of the wrong type or value, or a directory that does not exist.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        where = "CSVLogger"
        filename = file_path(where, "filename", filename)
        if not isinstance(separator, str) or len(separator) != 1:
            raise TypeError(f"{where}: separator must be a one-character string, got "
                            f"{type(separator).__name__} {separator!r}.")
        append = boolean(where, "append", append)
        directory = os.path.dirname(os.path.abspath(filename))
        if not os.path.isdir(directory):
            raise ValueError(f"{where}: filename {filename!r} is in a directory that does "
                             f"not exist ({directory!r}); create it first.")
        if os.path.isdir(filename):
            raise ValueError(f"{where}: filename {filename!r} is a directory; give a file "
                             "name.")
        self.filename, self.separator, self.append = filename, separator, append

    def on_train_begin(self, logs=None):
        exists = (self.append and os.path.exists(self.filename)
                  and os.path.getsize(self.filename) > 0)
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._writer = None
        self._keys = None
        self._header_written = exists

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._writer is None:
            self._keys = sorted(logs)
            self._writer = csv.DictWriter(self._file, ["epoch"] + self._keys,
                                          delimiter=self.separator)
            if not self._header_written:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self._keys}})
        self._file.flush()

    def on_train_end(self, logs=None):
        self._file.close()
