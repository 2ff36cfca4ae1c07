"""The Celery app: configured from Django settings (the ``CELERY_`` namespace).

Celery is only a transport for "there is due work" doorbells; the engine never
imports it. Start a worker with ``python manage.py workflows_worker`` (or
``celery -A project worker``) and the scheduler with
``python manage.py workflows_scheduler``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import billiard.process
from celery import Celery
from celery.signals import worker_process_init, worker_ready
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

logger = logging.getLogger("workflows_app.worker")

# ``filesystem://`` (the embedded default broker) is kombu's filesystem
# transport with its empty-file race fixed (workflows_app/broker.py), in every
# process that imports this app: web, worker, scheduler and tests alike.
TRANSPORT_ALIASES["filesystem"] = "workflows_app.broker:Transport"
# ``redis://``: kombu's Redis transport that survives closing a channel after a
# lost connection while it holds prefetched messages (workflows_app/redis_broker.py).
TRANSPORT_ALIASES["redis"] = "workflows_app.redis_broker:Transport"
TRANSPORT_ALIASES["rediss"] = "workflows_app.redis_broker:Transport"

app = Celery("project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workflows_app"])


@app.on_after_configure.connect
def _create_filesystem_broker_dirs(sender: Celery, **kwargs: Any) -> None:
    """The filesystem transport expects its folders to exist, in every process."""
    if not str(sender.conf.broker_url or "").startswith("filesystem://"):
        return
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


@worker_process_init.connect
def _pool_process_obeys_only_its_parent(**kwargs: Any) -> None:
    """A pool process stops on SIGTERM from its worker's main process only.

    A SIGTERM sent to the worker's whole process group (systemd's default
    ``KillMode``, supervisord's ``stopasgroup``, ``kill -TERM -<pgid>``, a
    terminal's job control) used to reach every pool process too: each died
    at once in the middle of its task, while the main process began its own
    shutdown. Billiard then waited on results of jobs whose processes it had
    not yet seen die, and started replacement processes mid-shutdown; the
    main process could hang in a lock wait well past any grace period
    (celery/celery#4795). Now SIGTERM is blocked in a pool process and a
    thread reads it with ``sigwaitinfo``: from the main process (cancelling a
    task at the end of the soft shutdown) it acts as before; from anyone else
    it is ignored and logged, and the main process's own shutdown (bounded by
    ``CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT``) decides what happens to the task.
    """
    if not hasattr(signal, "sigwaitinfo"):  # pragma: no cover - not Linux/BSD
        return
    parent = os.getppid()
    # Threads started from here on (step bodies, heartbeats) inherit the mask.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    threading.Thread(
        target=_filter_sigterm, args=(parent,), name="sigterm-filter", daemon=True
    ).start()


def _filter_sigterm(parent: int) -> None:
    while True:
        info = signal.sigwaitinfo({signal.SIGTERM})
        if info.si_pid == parent or os.getppid() != parent:
            # Deliver it as if never blocked: to this thread, with the
            # process's disposition (the default one ends the process).
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
            signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
            return
        logger.warning(
            "pool process %d ignored SIGTERM from pid %d: the worker's main process "
            "(pid %d) stops its pool processes",
            os.getpid(),
            info.si_pid,
            parent,
        )


# How long past CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT a stopping worker may take
# before it exits by force (25 + 4 s fits a 30 s orchestrator grace period).
SHUTDOWN_MARGIN_SECONDS = 4.0
_shutdown_bounded = False


@worker_ready.connect
def _bound_the_shutdown(sender: Any = None, **kwargs: Any) -> None:
    """A shutdown signal arms a deadline; past it, the worker main process exits by force.

    Celery's shutdown stops billiard's pool, which shares pipe locks with the
    pool processes: one that dies holding a lock (killed mid-write) leaves the
    main process waiting on that lock forever (seen as a hang in a futex).
    The deadline thread does not depend on that lock: it kills the pool
    processes and exits. Nothing is lost: a doorbell that was not handed back
    is rung again by the scheduler, and an interrupted activation's lease
    expires, after which another worker takes it.
    """
    global _shutdown_bounded
    if _shutdown_bounded:  # worker_ready comes again after each broker reconnection
        return
    _shutdown_bounded = True
    conf = sender.app.conf if sender is not None else app.conf
    deadline = float(conf.worker_soft_shutdown_timeout or 0) + SHUTDOWN_MARGIN_SECONDS
    armed = threading.Event()

    def arm() -> None:  # runs in a signal handler: start a thread, nothing more
        if not armed.is_set():
            armed.set()
            threading.Thread(
                target=_exit_after, args=(deadline,), name="shutdown-deadline", daemon=True
            ).start()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        previous = signal.getsignal(signum)
        if not callable(previous):
            continue

        def handler(num: int, frame: Any, previous: Any = previous) -> None:
            arm()
            previous(num, frame)

        try:
            signal.signal(signum, handler)
        except ValueError:  # pragma: no cover - not the main thread
            return


def _exit_after(seconds: float) -> None:
    time.sleep(seconds)
    # Straight to the stderr descriptor: the stuck main thread may hold any lock.
    message = (
        f"worker did not stop within {seconds:.0f} s of the shutdown signal; exiting now "
        "(unfinished activations are taken again once their lease expires)\n"
    )
    with contextlib.suppress(OSError):
        os.write(2, message.encode())
    for child in billiard.process.active_children():
        with contextlib.suppress(Exception):
            os.kill(child.pid, signal.SIGKILL)
    os._exit(1)
