"""Where sweep's tasks run: in this process, on a ``concurrent.futures`` executor, or
on a Dask cluster."""
import pickle
import sys
import uuid
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures import as_completed as _futures_completed

from .tasks import _WHERE, _cores, _run_task


def _runner(client, build):
    if client is None:
        return _LocalRunner()
    distributed = sys.modules.get("distributed")
    if distributed is not None and isinstance(client, distributed.Client):
        return _DaskRunner(client)
    if isinstance(client, Executor):
        if isinstance(client, ProcessPoolExecutor):
            try:
                pickle.dumps(build)
            except Exception as error:
                raise TypeError(f"{_WHERE}: build must be picklable to run on a "
                                f"ProcessPoolExecutor (a function defined at module level, not "
                                f"a lambda or a nested function): {error}") from None
        return _ExecutorRunner(client)
    raise TypeError(f"{_WHERE}: client must be None (in process), a "
                    "concurrent.futures.Executor or a dask.distributed.Client, got "
                    f"{type(client).__module__}.{type(client).__qualname__}.")


# ---------------------------------------------------------------------- runners
def _progress(total, verbose):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="sweep", unit="task", disable=not verbose, leave=False)


class _LocalRunner:
    """Tasks one after another in this process, on all of Numba's threads."""

    def close(self):
        pass

    def slots(self):
        return None

    def run(self, payload, tasks, verbose):
        outputs = []
        with _progress(len(tasks), verbose) as bar:
            for task in tasks:
                try:
                    outputs.append(_run_task(payload, task))
                except Exception as error:
                    outputs.append(error)
                bar.update(1)
        return outputs


class _ExecutorRunner:
    """Tasks on a concurrent.futures executor; the payload travels with each task."""

    def __init__(self, executor):
        self.executor = executor

    def close(self):
        pass  # the executor is the caller's

    def slots(self):
        return getattr(self.executor, "_max_workers", None) or _cores()

    def run(self, payload, tasks, verbose):
        slots = getattr(self.executor, "_max_workers", None)
        threads = max(1, _cores() // slots) if slots else None
        futures = {self.executor.submit(_run_task, payload, task, threads): t
                   for t, task in enumerate(tasks)}
        outputs = [None] * len(tasks)
        with _progress(len(tasks), verbose) as bar:
            for future in _futures_completed(futures):
                try:
                    outputs[futures[future]] = future.result()
                except Exception as error:
                    outputs[futures[future]] = error
                bar.update(1)
        return outputs


class _DaskRunner:
    """Tasks on a Dask cluster: the payload scattered once to every worker, tasks
    retried, results gathered as they complete."""

    retries = 3

    def __init__(self, client):
        self.client = client
        self.shared = None  # the payload's future, once scattered

    def _workers(self):
        return self.client.scheduler_info().get("workers", {})

    def slots(self):
        return max(1, sum(w.get("nthreads", 1) for w in self._workers().values()))

    def run(self, payload, tasks, verbose):
        from distributed import as_completed

        if self.shared is None:
            [self.shared] = self.client.scatter([payload], broadcast=True, hash=False)
        host_threads = {}
        for info in self._workers().values():
            host = info.get("host")
            host_threads[host] = host_threads.get(host, 0) + info.get("nthreads", 1)
        name = f"fastnn-sweep-{uuid.uuid4().hex[:12]}"
        futures = [self.client.submit(_run_task, self.shared, task, ("dask", host_threads),
                                      key=f"{name}-{t}", retries=self.retries, pure=False)
                   for t, task in enumerate(tasks)]
        where = {future.key: t for t, future in enumerate(futures)}
        outputs = [None] * len(tasks)
        try:
            with _progress(len(tasks), verbose) as bar:
                for future, output in as_completed(futures, with_results=True,
                                                   raise_errors=False):
                    outputs[where[future.key]] = output
                    future.release()
                    bar.update(1)
        finally:
            for future in futures:
                future.cancel()
        return outputs

    def close(self):
        if self.shared is not None:
            self.shared.cancel()
            self.shared = None
