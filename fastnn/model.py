"""``Sequential``: the Keras-shaped model that lays a network out as flat arrays and
drives the fused kernels through an engine (``fastnn.engines``): each epoch runs as
up to 40 compiled calls over chunks of mini-batches, with Python only in between."""
import threading
import weakref

import numpy as np

from . import losses as _losses
from . import model_file
from . import optimizers as _optimizers
from . import seeding
from ._validation import (NotCompiledError, choice, dtype_name, numeric_array,
                          positive_int)
from .engines import CpuEngine, CudaEngine
from .fitting import epoch_logs, fit_model, format_logs, training, training_thread
from .kernels import codes
from .layers import Dense, Dropout, dropout_key
from .model_data import check_data, check_inputs
from .registries import LOSSES, METRICS, accuracy_code, metric_logs

DTYPES = {"float32": np.float32, "float64": np.float64}
# Workspace rows for predict/evaluate: big enough to amortize the per-layer BLAS call,
# small enough that the activations of a wide network stay within ~64 MB.
_MAX_CHUNK_ROWS = 4096
_MAX_CHUNK_VALUES = 1 << 24


class Sequential:
    """A stack of Dense layers trained by fused, compiled kernels.

    Parameters
    ----------
    layers : list of Dense and Dropout, optional
        ``layers`` holds the Dense layers, ``dropouts`` the Dropout ones.
    dtype : {"float32", "float64"}, default="float32"
        The one dtype of weights, optimizer state and computation.
    seed : int, optional
        Seeds the model's NumPy Generator (initial weights and shuffling) and its
        dropout masks: two runs with the same seed are bitwise identical.

    Examples
    --------
    >>> from fastnn import Sequential, Dense
    >>> model = Sequential([Dense(4, activation="sigmoid", input_dim=3),
    ...                     Dense(1, activation="sigmoid")], seed=0)
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> model.predict([[0.0, 1.0, 1.0]]).shape
    (1, 1)
    """

    def __init__(self, layers=None, dtype="float32", seed=None):
        self.dtype = np.dtype(DTYPES[dtype_name("Sequential", "dtype", dtype, DTYPES)])
        if seed is not None:
            positive_int("Sequential", "seed", seed, allow_zero=True)
        self.seed = seed
        self.layers = []
        self.params = None
        self.optimizer = None
        self.loss = None
        self.loss_object = None
        self.metrics = []
        self.weighted_metrics = []
        self._metric_logs = []
        self.device = "cpu"
        self.stop_training = False
        self.history = None
        self.epochs_completed = 0
        self._rng = seeding.generator(seed)
        # Dropout masks hash this (not drawn from _rng: shuffling stays as without dropout).
        self._dropout_seed = int(self._rng.bit_generator.seed_seq.generate_state(1, np.uint64)[0])
        self._dropouts = []  # (workspace block, Dropout): block l is layer l's input
        self._dropout_arrays = None  # _dropout_spec's last arrays, with their settings
        self._state = None
        self._engine = CpuEngine(self)
        self._resume_epoch = None
        for layer in layers or []:
            self.add(layer)

    # ----------------------------------------------------------------- structure
    def add(self, layer):
        """Append a layer (before the model is built)."""
        if not isinstance(layer, (Dense, Dropout)):
            raise TypeError(f"Sequential.add: expected a fastnn Dense or Dropout layer, got "
                            f"{type(layer).__name__}.")
        if self.built:
            raise ValueError("Sequential.add: the model is already built (its weights exist); "
                             "create a new Sequential to change the architecture.")
        if isinstance(layer, Dropout):
            self._dropouts.append((len(self.layers), layer))
            return
        if self.layers and layer.input_dim is not None and layer.input_dim != self.layers[-1].units:
            raise ValueError(f"Sequential.add: layer input_dim={layer.input_dim} does not match "
                             f"the previous layer's {self.layers[-1].units} units.")
        self.layers.append(layer)

    @property
    def built(self):
        return self.params is not None

    def build(self, input_dim=None):
        """Lay out and initialize the weights for ``input_dim`` input features.

        Building a built model starts it over: new weights, zeroed optimizer state and
        step and epoch counters, workspaces sized for the new widths. If an
        initializer fails, the model is left as it was.
        """
        if not self.layers:
            raise ValueError("Sequential.build: the model has no layers; add Dense layers first.")
        input_dim = input_dim if input_dim is not None else self.layers[0].input_dim
        if input_dim is None:
            raise ValueError("Sequential.build: the input size is unknown; pass input_dim to "
                             "the first Dense layer or call fit/build with data.")
        sizes = np.array([positive_int("Sequential.build", "input_dim", input_dim)]
                         + [layer.units for layer in self.layers], dtype=np.int64)
        has_bias = np.array([layer.use_bias for layer in self.layers], dtype=np.bool_)
        activations = np.array([layer.activation_code for layer in self.layers], dtype=np.int64)
        l2 = np.array([layer.l2 for layer in self.layers], dtype=np.float64)
        self._check_dropouts(sizes)
        net = (sizes, activations, has_bias, l2)
        slices = self._layout(sizes, has_bias)
        params = np.zeros(slices[-1][-1].stop, dtype=self.dtype)
        for index, (layer, (w, b)) in enumerate(zip(self.layers,
                                                    _layer_views(params, net, slices))):
            # Draw in Keras's (n_in, n_out) orientation, store transposed (units, inputs).
            w[...] = self._initial_values(index, layer, "kernel_initializer",
                                          (w.shape[1], w.shape[0])).T
            if b is not None:
                b[...] = self._initial_values(index, layer, "bias_initializer", (b.shape[0],))
        self._net, self._slices, self.params = net, slices, params
        # Values in one row of a workspace (inputs and every layer's units), read per call.
        self._row_values = int(sizes.sum())
        self.epochs_completed = 0
        if self.optimizer is not None:
            self._state = np.zeros((self.optimizer.slots, self.params.size), dtype=self.dtype)
            self.optimizer.iterations = 0
        self._engine = type(self._engine)(self)  # its workspaces fit the old widths

    @property
    def dropouts(self):
        """The Dropout layers, in order."""
        return [layer for _, layer in self._dropouts]

    def _check_dropouts(self, sizes):
        """Every Dropout feeds a Dense layer, follows no softmax, and its noise_shape fits."""
        for block, layer in self._dropouts:
            if block == len(self.layers):
                raise ValueError("Sequential.build: a Dropout layer is last; dropout acts on "
                                 "the input of a Dense layer, so add one after it (or remove "
                                 "the Dropout).")
            if block > 0 and self.layers[block - 1].activation == "softmax":
                raise ValueError(f"Sequential.build: Dropout after layer {block - 1}'s softmax "
                                 "is not supported (its derivative needs the dropped values); "
                                 "use another activation there or move the Dropout.")
            units = None if layer.noise_shape is None else layer.noise_shape[1]
            if units not in (None, 1, int(sizes[block])):
                raise ValueError(f"Sequential.build: Dropout noise_shape {layer.noise_shape} "
                                 f"does not fit its input of {int(sizes[block])} units; "
                                 f"expected (None or 1, None, 1 or {int(sizes[block])}).")

    def _dropout_spec(self, every=False):
        """The dropout spec the training kernels take (``fastnn.kernels.dropout``):
        (blocks, rates, modes, keys) of the Dropout layers with a rate above 0, None
        when there are none (the kernels then compile without dropout); ``every``: of
        all, for a group whose models share the layout (rate 0 keeps every value)."""
        # The arrays are kept while the layers' settings are the same: every fit call
        # passes them, and a small problem's call is a few microseconds of kernel.
        key = (every, self._dropout_seed,
               [(block, layer.rate, layer.mode, layer.seed) for block, layer in self._dropouts])
        if self._dropout_arrays is None or self._dropout_arrays[0] != key:
            live = [(d, block, layer) for d, (block, layer) in enumerate(self._dropouts)
                    if every or layer.rate > 0]
            self._dropout_arrays = (key, (
                np.array([block for _, block, _ in live], dtype=np.int64),
                np.array([layer.rate for _, _, layer in live], dtype=np.float64),
                np.array([layer.mode for _, _, layer in live], dtype=np.int64),
                np.array([dropout_key(self._dropout_seed if layer.seed is None
                                      else layer.seed, d) for d, _, layer in live],
                         dtype=np.uint64)))
        spec = self._dropout_arrays[1]
        return spec if every or spec[0].size else None

    def _initial_values(self, index, layer, which, shape):
        """What layer ``index``'s ``which`` initializer draws for ``shape``, checked."""
        initializer = getattr(layer, which)
        name = getattr(initializer, "__name__", type(initializer).__name__)
        try:
            values = np.asarray(initializer(shape, self._rng), dtype=np.float64)
        except Exception as error:
            raise ValueError(f"Sequential.build: layer {index}'s {which} {name} failed for "
                             f"shape {shape}: {error}") from error
        if values.shape != shape:
            raise ValueError(f"Sequential.build: layer {index}'s {which} {name} returned "
                             f"shape {values.shape}, expected {shape}.")
        return values

    @staticmethod
    def _layout(sizes, has_bias):
        """[(weight slice, bias slice or None)] of each layer in the flat buffer."""
        slices, offset = [], 0
        for layer in range(len(sizes) - 1):
            n_w = int(sizes[layer] * sizes[layer + 1])
            w = slice(offset, offset + n_w)
            offset += n_w
            b = None
            if has_bias[layer]:
                b = slice(offset, offset + int(sizes[layer + 1]))
                offset += int(sizes[layer + 1])
            slices.append((w, b if b is not None else slice(offset, offset)))
        return slices

    def _views(self, buffer):
        """[(W (units, inputs), b or None)] views into a flat buffer."""
        return _layer_views(buffer, self._net, self._slices)

    @property
    def input_dim(self):
        if self.built:
            return int(self._net[0][0])
        return self.layers[0].input_dim if self.layers else None

    def count_params(self):
        """Number of weights and biases."""
        self._require_built("count_params")
        return int(self.params.size)

    def _require_built(self, where):
        """Build now when the layers and input size allow it; else say what ``where``
        needs, by name."""
        if self.built:
            return
        if not self.layers:
            raise ValueError(f"{where}: the model has no layers; add Dense layers first.")
        if self.layers[0].input_dim is None:
            raise ValueError(f"{where}: the input size is unknown; pass input_dim to the "
                             "first Dense layer or call fit/build with data.")
        self.build()

    def _weight_shapes(self, where):
        """Keras-orientation shapes of ``get_weights()``, known without building."""
        if not self.layers:
            raise ValueError(f"{where}: the model has no layers; add Dense layers first.")
        if self.input_dim is None:
            raise ValueError(f"{where}: the input size is unknown; pass input_dim to the "
                             "first Dense layer or call fit/build with data first.")
        sizes = [self.input_dim] + [layer.units for layer in self.layers]
        shapes = []
        for i, layer in enumerate(self.layers):
            shapes.append((sizes[i], sizes[i + 1]))
            if layer.use_bias:
                shapes.append((sizes[i + 1],))
        return shapes

    # ------------------------------------------------------------------ weights
    def get_weights(self):
        """Copies ``[W1, b1, W2, b2, ...]``, W in Keras's (n_in, n_out) orientation.

        Layers with ``use_bias=False`` contribute only their W.
        """
        self._require_built("get_weights")
        weights = []
        for w, b in self._views(self.params):
            weights.append(w.T.copy())
            if b is not None:
                weights.append(b.copy())
        return weights

    def set_weights(self, weights):
        """Replace all weights from a list shaped like ``get_weights()``.

        Every array is checked (count, shapes, finiteness) before anything changes.
        """
        expected = self._weight_shapes("set_weights")
        if isinstance(weights, np.ndarray) or not isinstance(weights, (list, tuple)):
            raise TypeError(f"set_weights: weights must be a list of arrays "
                            f"([W1, b1, W2, b2, ...]), got {type(weights).__name__}.")
        weights = list(weights)
        if len(weights) != len(expected):
            raise ValueError(f"set_weights: expected {len(expected)} arrays "
                             f"([W1, b1, W2, b2, ...]), got {len(weights)}.")
        arrays = []
        for i, (array, shape) in enumerate(zip(weights, expected)):
            array = numeric_array("set_weights", f"weights[{i}]", array, self.dtype)
            if array.shape != shape:
                raise ValueError(f"set_weights: weights[{i}] has shape {array.shape}, "
                                 f"expected {shape}.")
            arrays.append(array)
        self._require_built("set_weights")
        it = iter(arrays)
        for w, b in self._views(self.params):
            w[...] = next(it).T
            if b is not None:
                b[...] = next(it)

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, device="cpu",
                weighted_metrics=None):
        """Configure training.

        Parameters
        ----------
        optimizer : str or Optimizer, default="rmsprop"
            "sgd", "adam", "rmsprop" (Keras defaults) or an instance.
        loss : str or fastnn.losses.Loss
            "mse", "mae", "huber", "sse", "binary_crossentropy",
            "categorical_crossentropy", "sparse_categorical_crossentropy" (Keras's
            defaults), or a loss object with options, e.g.
            ``losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)``
            or ``losses.Huber(delta=2.0)``. ``model.loss`` is the name.
        metrics : list of str, optional
            "accuracy" or "acc", "mse" or "mean_squared_error", "mae" or
            "mean_absolute_error"; unweighted, as Keras: sample and class weights weigh
            only the loss and ``weighted_metrics``. Each is logged under the name given
            (a repeated name gets "_1", "_2", ...). The accuracy is picked from the
            shapes, as Keras: binary for one output unit, sparse for integer labels,
            categorical otherwise.
        device : {"cpu", "cuda"}, default="cpu"
            "cuda" runs the cuda.jit kernels with every buffer resident on the GPU.
        weighted_metrics : list of str, optional
            The same names, weighted by ``sample_weight`` or ``class_weight``; logged
            under the name given, or "weighted_<name>" when ``metrics`` has it too.

        Raises
        ------
        ValueError
            An unknown loss, metric or device name.
        TypeError
            Metrics that are not a list of names.
        """
        optimizer = _optimizers.get(optimizer)
        owner = _optimizer_owners.get(optimizer)
        if owner is not None and owner() is not None and owner() is not self:
            raise ValueError("compile: this optimizer instance is already compiled into another "
                             "model; its step count and slots belong to that model. Pass a "
                             f"new {type(optimizer).__name__}(...) to each model.")
        if loss is None:
            raise ValueError("compile: loss is required. Expected one of: "
                             + ", ".join(repr(k) for k in LOSSES) + ".")
        loss_name, loss_object = _losses.get("compile", loss)
        metric_names = _metric_names("metrics", metrics)
        weighted_names = _metric_names("weighted_metrics", weighted_metrics)
        device = choice("compile", "device", device, {"cpu": "cpu", "cuda": "cuda"})
        if device == "cuda" and self._dropouts:
            raise ValueError("compile: device='cuda' does not run Dropout layers yet; expected "
                             f"a model without Dropout, got {len(self._dropouts)}. Use "
                             "device='cpu' or remove the Dropout layers.")
        if device == "cuda" and optimizer.clips:
            raise ValueError("compile: gradient clipping (clipnorm, clipvalue, "
                             "global_clipnorm) runs on the CPU only so far; use device='cpu' "
                             "or an optimizer without it.")
        if device == "cuda":
            self._engine = CudaEngine(self)
        elif not isinstance(self._engine, CpuEngine):
            self._engine = CpuEngine(self)
        # else keep the CPU engine: its workspace and the team speeds it has measured
        # (fastnn._scheduler) do not depend on the optimizer or the loss
        self.optimizer, self.loss, self.loss_object = optimizer, loss_name, loss_object
        self._loss_spec = loss_object.spec()
        self._loss_code = self._loss_spec[0]
        self.metrics, self.weighted_metrics, self.device = metric_names, weighted_names, device
        self._metric_logs = metric_logs(metric_names, weighted_names)
        _optimizer_owners[optimizer] = weakref.ref(self)
        if self.built:
            self._state = np.zeros((self.optimizer.slots, self.params.size), dtype=self.dtype)

    def _codes(self):
        """(loss, accuracy, errors) codes the kernels take."""
        kinds = {kind for _, kind, _ in self._metric_logs}
        sparse = self._loss_code == codes.SPARSE_CATEGORICAL_CROSSENTROPY
        accuracy = (accuracy_code(sparse, int(self._net[0][-1]))
                    if "accuracy" in kinds else codes.NO_ACCURACY)
        errors = "mse" in kinds or "mae" in kinds
        return (self._loss_spec, accuracy, errors)

    def _build_for(self, x):
        """Build on first use from the data's width, after every argument passed its checks."""
        if not self.built:
            self.build(x.shape[1])

    def _chunk_rows(self, n, batch_size=None):
        rows = batch_size or _MAX_CHUNK_ROWS
        return max(1, min(n, rows, _MAX_CHUNK_VALUES // self._row_values))

    # ---------------------------------------------------------------------- fit
    def fit(self, x, y, batch_size=32, epochs=1, verbose=1, callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0):
        """Train for ``epochs`` epochs; the fused kernel runs whole chunks of mini-batches.

        Parameters
        ----------
        x : array-like (n, features)
        y : array-like
            Integer labels (n,) or (n, 1) for sparse_categorical_crossentropy; one-hot
            (n, classes) for categorical_crossentropy; (n, units) or (n,) otherwise.
        batch_size : int, default=32
            The last, partial batch is trained on too.
        epochs : int, default=1
            Index of the last epoch (Keras's meaning, with ``initial_epoch``).
        verbose : {0, 1, 2}, default=1
            0 silent, 1 a progress bar per epoch, 2 one line per epoch.
        callbacks : list of Callback, optional
        validation_split : float, default=0.0
            Fraction of the samples, taken from the end before shuffling, held out:
            training keeps the first floor(n * (1 - validation_split)), as Keras.
        validation_data : tuple (x_val, y_val), optional
        shuffle : bool, default=True
            Reorder samples every epoch with the model's Generator.
        class_weight : dict {class: weight}, optional
            Weighs the training samples (not the validation samples) by class.
        sample_weight : array-like (n,), optional
            Not together with ``class_weight`` (a ValueError, as Keras).
        initial_epoch : int, default=0

        Returns
        -------
        History
            ``history.history["loss"]`` etc., one value per epoch.

        Raises
        ------
        FloatingPointError
            When the loss or weights become non-finite; the weights and optimizer state
            are restored to the start of the failing epoch first.
        """
        where = "fit"
        if self.optimizer is None:
            raise NotCompiledError("fit: the model must be compiled before training; call "
                                   "model.compile(optimizer=..., loss=...) first.")
        with training([self], where):
            return fit_model(self, x, y, batch_size, epochs, verbose, callbacks,
                             validation_split, validation_data, shuffle, class_weight,
                             sample_weight, initial_epoch)

    # ---------------------------------------------------------- evaluate/predict
    def evaluate(self, x, y, batch_size=None, verbose=0, sample_weight=None):
        """Loss (regularization included) and metrics on (x, y).

        Returns
        -------
        dict
            {"loss": float, "<metric>": float, ...}
        """
        if self.optimizer is None:
            raise NotCompiledError("evaluate: the model must be compiled first (it needs the "
                                   "loss); call model.compile(optimizer=..., loss=...).")
        if batch_size is not None:
            positive_int("evaluate", "batch_size", batch_size)
        data = check_data(self, "evaluate", x, y, sample_weight)
        self._build_for(data[0])
        logs = self._evaluate_data(data, batch_size)
        if verbose:
            print(format_logs(logs))
        return logs

    def _evaluate_data(self, data, batch_size):
        totals = self._engine.evaluate(data, self._chunk_rows(data[0].shape[0], batch_size))
        logs = epoch_logs(self, totals)
        logs["loss"] += self._penalty()
        return logs

    def _penalty(self):
        l2 = self._net[3]
        return float(sum(l2[i] * np.sum(np.square(w, dtype=np.float64))
                         for i, (w, _) in enumerate(self._views(self.params)) if l2[i]))

    def predict(self, x, batch_size=None, verbose=0):
        """Network outputs for x (n, features) -> (n, units of the last layer)."""
        if batch_size is not None:
            positive_int("predict", "batch_size", batch_size)
        x = check_inputs(self, "predict", x)
        self._build_for(x)
        return self._engine.predict(x, self._chunk_rows(x.shape[0], batch_size))

    # ------------------------------------------------------------------ summary
    def summary(self, print_fn=print):
        """Print (and return) a table of layers, output shapes and parameter counts."""
        self._require_built("summary")
        sizes, _, has_bias, _ = self._net
        rows = [("Layer (type)", "Output Shape", "Activation", "Param #")]
        for i, layer in enumerate(self.layers):
            count = int(sizes[i] * sizes[i + 1] + (sizes[i + 1] if has_bias[i] else 0))
            rows.append((f"dense_{i} (Dense)", f"(None, {layer.units})", layer.activation,
                         f"{count:,}"))
        widths = [max(len(r[c]) for r in rows) + 2 for c in range(4)]
        line = "-" * sum(widths)
        text = [f'Model: "sequential" (dtype {self.dtype.name}, input_dim {int(sizes[0])})',
                line, "".join(c.ljust(w) for c, w in zip(rows[0], widths)), "=" * sum(widths)]
        text += ["".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows[1:]]
        text += ["=" * sum(widths), f"Total params: {self.params.size:,}", line]
        result = "\n".join(text)
        print_fn(result)
        return result

    # ------------------------------------------------------------------ saving
    def save(self, path):
        """Write the whole model (architecture, compile config, weights, optimizer
        state, RNG, epoch counter) to one .npz file, atomically. See ``fastnn.saving``."""
        trainer = training_thread(self)
        if trainer is not None and trainer != threading.get_ident():
            raise RuntimeError("save: the model is training in another thread, and its weights "
                               "change while a file is written; save from a callback (e.g. "
                               "ModelCheckpoint) or after fit returns.")
        model_file.save_model(self, path)

    def _restore_training_state(self, path):
        """Adopt weights, optimizer state, RNG and epoch counter saved in ``path``."""
        model_file.restore_into(self, path)
        self._resume_epoch = self.epochs_completed

    def _saved_state(self):
        """(optimizer slots (slots, P), (0, P) before compile; the RNG's state): what a
        file keeps of the model beside its weights and configuration."""
        state = self._state
        if state is None:
            state = np.zeros((0, self.params.size), self.dtype)
        return state, self._rng.bit_generator.state

    def _check_rng_state(self, rng_state):
        """Raise what adopting ``rng_state`` would raise, changing nothing."""
        type(self._rng.bit_generator)().state = rng_state

    def _adopt_saved_state(self, params, state, rng_state, epochs_completed):
        """Take weights, optimizer slots (when the file has some and the model is
        compiled), RNG state and epoch counter from a file."""
        self.params[...] = params
        if state.size and self._state is not None:
            self._state[...] = state
        self._rng.bit_generator.state = rng_state
        self.epochs_completed = int(epochs_completed)


def load_model(path):
    """Load a model saved by ``Sequential.save``, compiled and ready to continue training.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Sequential

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        The file is not a regular file, or is truncated, corrupted, crafted, or of an
        unknown format version. Sizes are checked before anything is allocated.
    """
    return model_file.load(Sequential, path)


def _metric_names(argument, metrics):
    """The metric names of compile's ``argument``, checked, as given."""
    if metrics is None:
        return []
    if isinstance(metrics, str):
        metrics = [metrics]
    if not isinstance(metrics, (list, tuple)):
        raise TypeError(f"compile: {argument} must be a list of names, got "
                        f"{type(metrics).__name__} {metrics!r}.")
    for name in metrics:
        choice("compile", "metric", name, METRICS)
    return list(metrics)


def _layer_views(buffer, net, slices):
    """[(W (units, inputs), b or None)] views into a flat buffer of the layout ``slices``."""
    sizes, _, has_bias, _ = net
    return [(buffer[w].reshape(int(sizes[l + 1]), int(sizes[l])),
             buffer[b] if has_bias[l] else None)
            for l, (w, b) in enumerate(slices)]


# Which model each optimizer instance is compiled into (its step count and slots are
# that model's): weak on both sides, so neither is kept alive by the other.
_optimizer_owners = weakref.WeakKeyDictionary()
