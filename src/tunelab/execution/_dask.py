"""Trials on a Dask cluster: :class:`DaskExecutor`."""

from __future__ import annotations

import ipaddress
import math
import os
import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tunelab._imports import optional_import
from tunelab.execution._base import RunSpec
from tunelab.execution._channel import ChannelExecutor, Ticket, TrialChannel, run_remote_trial
from tunelab.execution._remote import pickle_objective

if TYPE_CHECKING:
    from tunelab.trial import Trial


def _dask_task(ticket: Ticket, payload: bytes) -> None:
    """The Dask task of one trial: run it, talking to the coordinator directly."""
    from distributed import get_worker

    try:
        where = f"Dask worker {get_worker().address}"
    except ValueError:
        where = "a Dask worker"
    run_remote_trial(ticket, payload, f"{where} (host {socket.gethostname()}, pid {os.getpid()})")


def _task_ended(channel: TrialChannel, trial_id: int, future: Any) -> None:
    """Report the trial of a task that failed or was cancelled before it reported its end.

    Runs in a thread of the client. The channel ignores trials already over or
    dropped (those the coordinator gave up on, also in an earlier optimize call).
    """
    if future.status == "cancelled":
        reason = "its Dask task was cancelled"
    elif future.status == "error":
        error = future.exception()
        reason = f"its Dask task failed: {type(error).__name__}: {error}"
    else:
        return  # it ended normally: its outcome or loss came through the channel
    channel.lose_task(trial_id, reason)


def _reachable_host(scheduler_address: str) -> str:
    """This machine's address as the scheduler's network sees it."""
    host = urlsplit(scheduler_address).hostname or "127.0.0.1"
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        if host == "localhost":
            return "127.0.0.1"
    # No packet is sent: connecting a UDP socket only picks the outgoing interface.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((host, 9))
        return str(probe.getsockname()[0])


class DaskExecutor(ChannelExecutor):
    """Runs each trial as a task on a Dask cluster.

    The sampler and pruner stay in this process; each task connects back to it
    over TCP (one authenticated port per ``optimize`` call) for suggestions,
    reports and pruning decisions, and pings while its objective runs. A
    worker that dies fails its trial at once with a reason naming it; one that
    stops answering (a vanished machine, a network split) fails it when its
    lease lapses. Dask never retries a task (``retries=0``): the study's
    ``retry_failed`` decides, and a task Dask re-runs on its own after its
    worker died is turned away, so no configuration runs twice.

    Args:
        client: A ``distributed.Client`` connected to the cluster.
        resources: Dask resources each trial holds, e.g. ``{"GPU": 1}``;
            only workers that have them run trials.
        host: This machine's address as the workers reach it (default: the
            address it uses to reach the scheduler).

    Raises:
        ImportError: dask.distributed is not installed (``pip install 'tunelab[dask]'``).
    """

    def __init__(
        self,
        client: Any,
        *,
        resources: dict[str, float] | None = None,
        host: str | None = None,
    ) -> None:
        super().__init__()
        self._distributed = optional_import("distributed", extra="dask", purpose="DaskExecutor")
        if not isinstance(client, self._distributed.Client):
            raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}")
        if resources is not None and not all(
            isinstance(k, str) and isinstance(v, int | float) and v > 0
            for k, v in resources.items()
        ):
            raise ValueError(
                f"resources must map resource names to positive amounts, got {resources!r}"
            )
        self.client = client
        self.resources = dict(resources) if resources else None
        self._host = host

    def capacity(self) -> int:
        """How many trials the cluster's workers run at once (threads, within ``resources``)."""
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        total = 0
        for info in workers.values():
            slots = int(info.get("nthreads", 1))
            for name, amount in (self.resources or {}).items():
                slots = min(slots, math.floor(info.get("resources", {}).get(name, 0) / amount))
            total += slots
        return total

    def start(self, spec: RunSpec) -> None:
        self._spec = spec
        self._capacity = self.capacity()
        if self._capacity < 1:
            wanted = f" with the resources {self.resources}" if self.resources else ""
            raise ValueError(f"the Dask cluster has no worker{wanted} to run trials on")
        host = self._host or _reachable_host(self.client.scheduler.address)
        self._channel = TrialChannel(host, spec.lease_interval)
        # Sent with every task rather than scattered once: a task must not depend on
        # data a dying worker may take along (Dask cancels its dependents). Workers
        # unpickle it once per optimize call.
        self._payload = pickle_objective(spec.func, by_value=True)
        self._tasks = {}

    def submit(self, trial: Trial) -> None:
        channel = self._channel_or_fail()
        ticket = channel.ticket(
            trial, n_objectives=self._spec.n_objectives, gc_after_trial=self._spec.gc_after_trial
        )
        future = self.client.submit(
            _dask_task,
            ticket,
            self._payload,
            key=f"tunelab-trial-{trial.trial_id}-{os.urandom(4).hex()}",
            pure=False,
            retries=0,
            resources=self.resources,
        )
        with self._lock:
            self._tasks[trial.trial_id] = future
        future.add_done_callback(
            lambda f, trial_id=trial.trial_id: _task_ended(channel, trial_id, f)
        )

    def _task_pending(self, task: Any) -> bool:
        return bool(task.status == "pending")

    def _stop_task(self, task: Any) -> None:
        if not task.done():
            task.cancel()  # Dask may have rescheduled it; it would be turned away anyway
