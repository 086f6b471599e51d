"""An isolated pool of probe processes with a hard per-file timeout.

libav parses untrusted bytes. Running it in worker processes means a hang is killed at the
timeout and a crash (segfault) costs one pool process, never the service; both come back as
a classified ProbeError for that file. Workers are recycled after `max_tasks` files to bound
any leak in the native code.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import CancelledError, Future, wait
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pebble

from mediashelf.errors import ProbeCrashed, ProbeError, ProbeTimeout, probe_error
from mediashelf.probe.base import Prober
from mediashelf.probe.chain import ChainRecipe, ProbeChain, chain_recipe
from mediashelf.probe.result import ProbeResult

if TYPE_CHECKING:  # libav is imported by the pool's processes, not by the one that starts them
    from mediashelf.config import Settings
    from mediashelf.probe.decode import DecodeReport

log = logging.getLogger(__name__)
_worker_prober: Prober | None = None
_open_pools: weakref.WeakSet[ProbePool] = weakref.WeakSet()  # release_forkserver waits for none


def _init_worker(prober: Prober | ChainRecipe) -> None:
    global _worker_prober  # noqa: PLW0603 - one prober per pool process, set once at start
    _worker_prober = prober.build() if isinstance(prober, ChainRecipe) else prober


def _probe_task(path: str) -> ProbeResult | tuple[str, str, str | None]:
    """Probe in a pool process; errors travel back as (class, message, prober) to stay
    picklable."""
    assert _worker_prober is not None
    try:
        return _worker_prober.probe(Path(path))
    except ProbeError as exc:
        return (exc.error_class, exc.message, exc.prober)


def _warm_task() -> bool:
    """Nothing: running it makes a pool process start (and import libav) ahead of the work."""
    return _worker_prober is not None


def _decode_task(path: str) -> DecodeReport | tuple[str, str]:
    """Decode a whole file in a pool process (integrity verification)."""
    from mediashelf.probe.decode import decode_file

    try:
        return decode_file(Path(path))
    except ProbeError as exc:
        return (exc.error_class, exc.message)


def _fingerprint(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


POOL_GRACE_S = 2.0  # the pool kills a probe only after the backends' own timeouts had a chance
AHEAD_WINDOW = 4  # probes ahead in flight per pool process


def _settled(future: Future[Any], too_long: str) -> Any:
    """Return a pool task's value, or raise its classified ProbeError."""
    try:
        value = future.result()
    except TimeoutError as exc:
        raise ProbeTimeout(f"{too_long} and was stopped.") from exc
    except pebble.ProcessExpired as exc:
        raise ProbeCrashed(f"The prober process died (exit code {exc.exitcode}).") from exc
    except CancelledError as exc:
        raise ProbeTimeout("Probing was cancelled.") from exc
    if isinstance(value, tuple):
        raise probe_error(*value)
    return value


class ProbePool:
    """Probe files in `processes` worker processes, `timeout_s` per file."""

    @classmethod
    def for_settings(cls, settings: Settings) -> ProbePool:
        """Return the pool of the probers and process count `settings` name."""
        return cls.for_chain(chain_recipe(settings), settings.probe_processes)

    @classmethod
    def for_chain(cls, chain: ProbeChain | ChainRecipe, processes: int) -> ProbePool:
        """Return a pool whose kill timeout outlasts every backend's own (e.g. ffprobe's).

        The backends stop themselves first (ffprobe is killed by its runner, cleanly); the
        pool's kill is the last resort for a backend that hangs inside native code.
        """
        return cls(chain, processes, chain.budget_s + POOL_GRACE_S)

    def __init__(
        self,
        prober: Prober | ChainRecipe,
        processes: int,
        timeout_s: float,
        max_tasks: int = 2000,
    ) -> None:
        self.processes = max(1, processes)
        self.timeout_s = timeout_s
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(
            ["mediashelf.probe.pool", "mediashelf.probe.pyav_backend", "mediashelf.probe.pyav_read",
             "mediashelf.probe.ffprobe_backend", "mediashelf.probe.decode"]
        )  # fmt: skip
        self._pool = pebble.ProcessPool(
            max_workers=self.processes,
            max_tasks=max_tasks,
            initializer=_init_worker,
            initargs=(prober,),
            context=context,
        )
        _open_pools.add(self)
        self._ahead: dict[str, tuple[int, int, Future[Any]]] = {}
        self._ahead_open = True
        self._ahead_lock = threading.Lock()

    def submit(self, path: Path) -> Future[Any]:
        """Start probing `path`; pass the future to `outcome`.

        A file probed ahead (`probe_ahead`) and unchanged since (same size and mtime) gives the
        probe already under way; the first call ends probing ahead.
        """
        with self._ahead_lock:
            self._ahead_open = False
            ahead = self._ahead.pop(str(path), None)
        if ahead is not None:
            size, mtime_ns, future = ahead
            if _fingerprint(path) == (size, mtime_ns):
                return future
            future.cancel()
        return self._schedule_probe(path)

    def _schedule_probe(self, path: Path) -> Future[Any]:
        future: Future[Any] = self._pool.schedule(
            _probe_task, args=(str(path),), timeout=self.timeout_s
        )
        return future

    def probe_ahead(self, files: Iterable[tuple[Path, int, int]], limit: int) -> None:
        """Start probing up to `limit` of `files` (path, size, mtime_ns) in the background.

        For a process that will ask for these files first but is still starting (importing the
        database layer, migrating): the pool's processes work meanwhile instead of idling. The
        first `submit` ends it; what was probed ahead and never asked for is dropped at `close`.
        """
        threading.Thread(
            target=self._probe_ahead, args=(files, limit), name="probe-ahead", daemon=True
        ).start()

    def _probe_ahead(self, files: Iterable[tuple[Path, int, int]], limit: int) -> None:
        # A few in flight at a time, not `limit` at once: a probe handed to a pool process
        # runs even when cancelled, so ending early wastes at most the window.
        inflight: deque[Future[Any]] = deque()
        try:
            for path, size, mtime_ns in islice(files, limit):
                while len(inflight) >= AHEAD_WINDOW * self.processes:
                    wait([inflight.popleft()], timeout=self.timeout_s)
                with self._ahead_lock:
                    if not self._ahead_open:
                        return
                    future = self._schedule_probe(path)
                    self._ahead[str(path)] = (size, mtime_ns, future)
                inflight.append(future)
        except Exception:  # a guess failed (root offline, pool closing): the job meets it too
            log.debug("probing ahead stopped", exc_info=True)  # and says why

    def drop_ahead(self) -> None:
        """End probing ahead and drop what nobody asked for (the job runs elsewhere)."""
        with self._ahead_lock:
            self._ahead_open = False
            dropped, self._ahead = self._ahead, {}
        for _, _, future in dropped.values():
            future.cancel()

    def outcome(self, future: Future[Any]) -> ProbeResult:
        """Wait for `future` and return its result or raise its classified ProbeError."""
        value = _settled(future, f"Probing took longer than {self.timeout_s:g}s")
        assert isinstance(value, ProbeResult)
        return value

    def probe(self, path: Path) -> ProbeResult:
        """Probe one file and wait for it."""
        return self.outcome(self.submit(path))

    def probe_many(
        self,
        paths: Iterable[Path],
        window: int | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> Iterator[tuple[Path, ProbeResult | ProbeError]]:
        """Probe `paths` with a bounded number in flight; yield (path, result or error) in order.

        When `stop()` turns true, probes in flight are cancelled (a running one is killed) and
        the iteration ends early.
        """
        limit = window or self.processes * 8
        pending: deque[tuple[Path, Future[Any]]] = deque()
        try:
            for path in paths:
                if stop is not None and stop():
                    return
                pending.append((path, self.submit(path)))
                if len(pending) >= limit:
                    if not self._wait(pending[0][1], stop):
                        return
                    yield self._settle(*pending.popleft())
            while pending:
                if not self._wait(pending[0][1], stop):
                    return
                yield self._settle(*pending.popleft())
        finally:
            for _, future in pending:
                future.cancel()

    def settle(
        self, submitted: Iterable[tuple[Path, Future[Any]]], stop: Callable[[], bool] | None = None
    ) -> Iterator[tuple[Path, ProbeResult | ProbeError]]:
        """Yield the outcome of each submitted probe, in order; on `stop()` cancel the rest."""
        pending = deque(submitted)
        try:
            while pending:
                if not self._wait(pending[0][1], stop):
                    return
                yield self._settle(*pending.popleft())
        finally:
            for _, future in pending:
                future.cancel()

    @staticmethod
    def _wait(future: Future[Any], stop: Callable[[], bool] | None) -> bool:
        """Wait for `future`; False when `stop()` turned true first."""
        if stop is None:
            return True
        while not future.done():
            if stop():
                return False
            wait([future], timeout=0.1)
        return True

    def _settle(self, path: Path, future: Future[Any]) -> tuple[Path, ProbeResult | ProbeError]:
        try:
            return path, self.outcome(future)
        except ProbeError as exc:
            return path, exc

    def warm(self) -> None:
        """Start the pool's processes now, in the background, so the first probe waits less.

        Starting the forkserver and importing libav in each process takes about half a second;
        a scan warms the pool while it walks and diffs instead of after.
        """
        threading.Thread(target=self._start_processes, name="pool-warm", daemon=True).start()

    def _start_processes(self) -> None:
        for _ in range(self.processes):
            self._pool.schedule(_warm_task)

    def decode_many(
        self, items: Iterable[tuple[Path, float]], stop: Callable[[], bool] | None = None
    ) -> Iterator[tuple[Path, DecodeReport | ProbeError]]:
        """Decode whole files, each with its own timeout; yield (path, report or error) in order.

        As many run at once as the pool has processes; `stop()` cancels the rest.
        """
        pending: deque[tuple[Path, float, Future[Any]]] = deque()
        try:
            for path, timeout_s in items:
                if stop is not None and stop():
                    return
                task: Future[Any] = self._pool.schedule(
                    _decode_task, args=(str(path),), timeout=timeout_s
                )
                pending.append((path, timeout_s, task))
                if len(pending) >= self.processes and not (yield from self._drain(pending, stop)):
                    return
            while pending:
                if not (yield from self._drain(pending, stop)):
                    return
        finally:
            for _, _, left in pending:
                left.cancel()

    def _drain(
        self, pending: deque[tuple[Path, float, Future[Any]]], stop: Callable[[], bool] | None
    ) -> Generator[tuple[Path, DecodeReport | ProbeError], None, bool]:
        path, timeout_s, future = pending[0]
        if not self._wait(future, stop):
            return False
        pending.popleft()
        try:
            value = _settled(future, f"Decoding took longer than {timeout_s:g}s")
        except ProbeError as exc:
            yield path, exc
            return True
        yield path, value
        return True

    def close(self) -> None:
        """Stop the worker processes (in-flight probes are abandoned)."""
        self.drop_ahead()
        self._pool.stop()  # type: ignore[no-untyped-call]
        self._pool.join(timeout=10)
        _open_pools.discard(self)

    def __enter__(self) -> ProbePool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def release_forkserver() -> None:
    """Ask this process's forkserver to exit now, without waiting: for a process about to end.

    The forkserver (the Python process the pool's processes are forked from, libav loaded)
    shares this process's stdout and stderr. Left alone, it sees that it is no longer needed
    only once this process has exited and then takes another 30-60 ms to finish, and a
    reader of the command's output (a pipe, `$(mediashelf scan --json)`) waits for that too.
    Asked here, it finishes while this process prints and exits.

    multiprocessing has no public call that stops its forkserver without waiting for it, so
    this closes the "alive" pipe that `ForkServer._stop` closes and forgets the server the
    same way; a later pool in this process starts a new one. Where those private names
    differ (another Python), it does nothing and the forkserver ends as before. While a pool
    is open it does nothing either: that pool learns how its processes end from the server.
    """
    from multiprocessing import forkserver, util

    if _open_pools:
        return
    server = getattr(forkserver, "_forkserver", None)
    lock = getattr(server, "_lock", None)
    if server is None or lock is None:
        return
    with lock:
        alive_fd = getattr(server, "_forkserver_alive_fd", None)
        address = getattr(server, "_forkserver_address", None)
        if not isinstance(alive_fd, int):
            return
        os.close(alive_fd)  # its end of the pipe reads EOF: it exits
        server._forkserver_alive_fd = None
        server._forkserver_pid = None  # not waited for: reaped when this process ends
        server._forkserver_address = None
        if isinstance(address, str) and not util.is_abstract_socket_namespace(address):
            with contextlib.suppress(OSError):
                os.unlink(address)
