"""The one jit configuration every CPU kernel uses.

``error_model="numpy"``: float division by zero gives inf/nan instead of a Python
exception; the exception check would sit in every inner loop and block SIMD.
``cache=True`` and ``nogil=True`` everywhere (predict may run from several threads).

Cold compile time: Numba compiles each kernel a caller reaches as a library of its
own, then links a copy into every caller, where LLVM optimizes and emits the whole
call tree again. Kernels too large for LLVM to inline are called by symbol instead
(``_CalledBySymbol``): compiled once, never copied; so are the passes of a batch
that ``train_epochs`` calls (``network._gradients_by_rows``, layer 0's unit split).
The passes between those and the leaf kernels (``forward``, ``backward``,
``dense_*``, ...) are ``inline="always"``: inlined at Numba's level, they keep the
chain one level deep. Inlining has its own cost: Numba deep-copies the callee's IR,
whole and already expanded, at every level it is inlined into (7.3 of a 23 s cold
first fit went to it while the batch loop was a callee of the epoch loop). Small
helpers called from many places stay separate, or each call site would be typed
anew. A Python literal argument (``0``, ``True``) also compiles a separate copy of
its callee per value, so constants passed to kernels are NumPy scalars. Together
these cut the seed network's cold first fit by ~40% (12.7 -> 7.5 s one day, 17.8 ->
10.3-12.7 s on a slower one; compile time varies with the machine).
"""
import pickle
import types

from llvmlite import binding as llvm
from numba import config, njit
from numba.core.caching import FunctionCache, IndexDataCacheFile, _cache_log
from numba.core.registry import CPUDispatcher

# fastmath without nnan/ninf, so divergence checks (isfinite) keep working.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}


def kernel(function=None, *, internal=False, **options):
    """``njit`` with the project's options; usable bare or with extra options.

    No kernel is passed as a first-class function value, so none gets the C entry
    point that would need (``no_cfunc_wrapper``). ``internal=True``: only other
    kernels call it, so Numba also skips its Python entry point. Each skipped entry
    point saves cold compile time: together ~0.7-0.9 s of a ~12 s first fit.
    Called from Python, an internal kernel would crash the interpreter, so only
    private (``_``-prefixed) functions may be internal; ``python_entry`` gives one
    a public twin that Python may call.

    ``_nrt=False``: without Numba's runtime, no array is reference-counted. With it,
    every view a kernel makes and drops costs an atomic increment and decrement:
    30% of the 3-4-1 network's epoch, and more than half of a small network's step
    in ``fit_many`` (14.8 against 6.3 us a model and batch for 8-32-32-1). Kernels
    never allocate, and without the runtime they cannot: ``np.empty`` inside one
    fails to compile, and so does returning a view it made to Python or to a
    kernel that is not inlined (helpers that return views are ``inline="always"``).
    Only kernels and Python call kernels: plain ``@njit`` code counts references
    and would release what a kernel hands back without counting.
    """
    settings = dict(cache=True, nogil=True, error_model="numpy", no_cfunc_wrapper=True,
                    _nrt=False)
    if internal:
        settings.update(no_cpython_wrapper=True)
    settings.update(options)

    def decorate(function):
        if internal and not function.__name__.startswith("_"):
            raise ValueError(f"internal kernel {function.__name__!r} must be private "
                             "(named with a leading underscore): it has no Python entry point")
        if config.DISABLE_JIT or settings.get("inline") == "always":
            return njit(**settings)(function)
        options = dict(settings, nopython=True)
        cache = options.pop("cache")
        dispatcher = _CalledBySymbol(py_func=function, locals={}, targetoptions=options)
        if cache:
            dispatcher._cache = _Cache(function)
        _BY_NAME[function.__module__, function.__qualname__] = dispatcher
        return dispatcher

    return decorate if function is None else decorate(function)


def renamed(function, name):
    """A copy of a plain function under another name (same code, globals and file).

    ``python_entry`` makes public twins with it; a plain function that Python code
    also calls (``layout.layer_params``) becomes an internal kernel through a private
    copy. Numba caches the copies apart from the original (its key is the name).
    """
    copy = types.FunctionType(function.__code__, function.__globals__, name,
                              function.__defaults__, function.__closure__)
    copy.__qualname__ = function.__qualname__[:-len(function.__name__)] + name
    copy.__doc__, copy.__module__ = function.__doc__, function.__module__
    return copy


def python_entry(internal_kernel):
    """The Python-callable twin of an internal kernel ``_name``, named ``name``.

    Kernels call ``_name``; Python (tests, users) calls ``name``, compiled on its
    first call. Compiling a kernel compiles the kernels it calls with their own
    options, Python entry point included: a cold first fit built fourteen entry
    points it never used. Without them it took 0.5-0.9 s less (medians of four
    and five runs: 9.95 against 10.6 s, 9.0 against 10.0 s).
    The twin is a copy of the function under its public name, so Numba caches the
    two apart (its cache key ignores the jit options).
    """
    if config.DISABLE_JIT:  # the kernel is the plain Python function
        return internal_kernel
    function = internal_kernel.py_func
    twin = renamed(function, function.__name__.lstrip("_"))
    options = {key: value for key, value in internal_kernel.targetoptions.items()
               if key not in ("no_cpython_wrapper", "nopython", "boundscheck")}
    return kernel(twin, **options)


# Kernels that callers may call by symbol, by (module, qualified name): cached
# callers name them in ``_Reload`` hooks.
_BY_NAME = {}
# Kernels with at most this many LLVM instructions are linked into their callers as
# Numba does, where LLVM may inline them (its own threshold is ~250 at -O3).
_LINKED_UP_TO = 250


class _CalledBySymbol(CPUDispatcher):
    """A kernel compiled and optimized once, whose callers call its machine code.

    Numba links a copy of each callee's optimized IR into every caller, where LLVM
    optimizes it and emits machine code for it again: the seed network's epoch
    kernel re-optimized 14,300 instructions of callees beside its own 4,400. A
    kernel larger than ``_LINKED_UP_TO`` instructions gives its callers only a
    declaration of its symbol; they find its code in the process at load time.
    The price is a plain call where LLVM could have specialized the copy: ~10% of
    the 3-4-1 network's sub-microsecond epoch, nothing measurable on larger ones.
    A caller's cached code is loaded only after the kernels it calls (``_Reload``,
    which Numba runs before loading a cached library), and the cache keeps each
    kernel's definitions, so that loading it registers the symbols it defines.
    """

    def add_overload(self, cres):
        super().add_overload(cres)
        library = cres.library
        # Numba restores a cached kernel's reload hooks but not its library's, from
        # which callers inherit them: restore them, or a caller that links this
        # kernel would load without the kernels it calls through it.
        library._reload_init.update(cres.reload_init or ())
        definitions = library._get_module_for_linking()
        # Its instructions, one indented line each: counted from the text in one call
        # into LLVM, not one per instruction (0.15 s of a cached first fit).
        code = str(definitions.get_function(cres.fndesc.mangled_name))
        if sum(line.startswith("  ") for line in code.splitlines()) <= _LINKED_UP_TO:
            return
        declarations = library.codegen._create_empty_module(library.name)
        cres.target_context.declare_function(declarations, cres.fndesc)
        library._shared_module = llvm.parse_assembly(str(declarations))
        library.serialize_using_object_code = lambda: (
            library.name, "object", (library._get_compiled_object(), definitions.as_bitcode()))
        library._reload_init.add(_Reload(self.py_func.__module__, self.py_func.__qualname__,
                                         tuple(cres.signature.args), cres.fndesc.mangled_name))


class StaleCacheEntry(RuntimeError):
    """A cached kernel calls a kernel that this version of fastnn does not define."""


# What reading a cache written by another version of fastnn raises: its pickles name
# classes or modules this version lacks, or a kernel it lacks (StaleCacheEntry), or
# a file was cut short.
_UNREADABLE = (AttributeError, ImportError, EOFError, TypeError, ValueError,
               pickle.UnpicklingError, StaleCacheEntry)


class _Cache(FunctionCache):
    """Numba's on-disk cache of one kernel, where what cannot be read is a miss.

    Numba unpickles a kernel's whole index before it checks that the source file is
    unchanged, and that index names the types of every cached signature: a class
    that a later fastnn renamed or removed made the first fit after an upgrade raise
    AttributeError. Here such an index, or entry, counts as empty: the kernel
    compiles and its new entry replaces the old.
    """

    def __init__(self, py_func):
        super().__init__(py_func)
        # Numba's own index file, rebuilt as ours with the source stamp Numba just read
        # (reading it again would stat the source file once more per kernel at import).
        self._cache_file = _IndexFile(cache_path=self._cache_path,
                                      filename_base=self._impl.filename_base,
                                      source_stamp=self._cache_file._source_stamp)

    def load_overload(self, sig, target_context):
        try:
            return super().load_overload(sig, target_context)
        except _UNREADABLE as error:  # its file, or rebuilding it (``_Reload``)
            _cache_log("[cache] unreadable entry of %r: %r", self._name, error)
            return None


class _IndexFile(IndexDataCacheFile):
    """A kernel's cache index, an unreadable one read as empty: saving a new entry
    reads the index too, outside ``_Cache.load_overload``."""

    def _load_index(self):
        try:
            return super()._load_index()
        except _UNREADABLE as error:
            _cache_log("[cache] unreadable index %r: %r", self._index_path, error)
            return {}


class _Reload:
    """Compile, or load from the cache, the overload of a kernel that a cached caller
    calls by the symbol ``name``.

    Numba's symbols number each compilation in its process (``...B3v54...``): a
    kernel compiled again, by another process racing on the same cache say, gets
    another name than the one its cached callers call. That name is then bound to
    the kernel's code in the process, as ``blas`` binds the BLAS symbols."""

    def __init__(self, module, qualname, args, name):
        self.key, self.args, self.name = (module, qualname), args, name

    def __call__(self):
        dispatcher = _BY_NAME.get(self.key)
        if dispatcher is None:  # a cache written by other sources: ``_Cache`` compiles
            raise StaleCacheEntry(f"a cached kernel calls {'.'.join(self.key)}, which "
                                  "this version of fastnn does not define")
        dispatcher.compile(self.args)
        cres = dispatcher.overloads[self.args]
        if cres.fndesc.mangled_name != self.name:
            llvm.add_symbol(self.name, cres.library.get_pointer_to_function(
                cres.fndesc.mangled_name))

    def __eq__(self, other):
        return isinstance(other, _Reload) and (self.key, self.args, self.name) == (
            other.key, other.args, other.name)

    def __hash__(self):
        return hash((self.key, self.args, self.name))
