"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does.

Why it is built this way:
- A candidate takes the Lease only when its holder is empty or the record has not changed
  for `lease_duration` as measured on the candidate's own clock from when it last saw the
  record change (client-go's observedTime) — never by comparing `renewTime` with local
  time, so clock skew between nodes cannot hand the lease to two replicas.
- Every write is a PUT carrying the resourceVersion that was read: two candidates racing
  for an expired lease get one 200 and one 409.
- The leader renews every `retry_period`; if it has not renewed successfully for
  `renew_deadline` (shorter than `lease_duration`, so before anyone else may take over), it
  steps down: `fence()` starts raising at once and the controller stops all work.
- On a clean shutdown the leader releases the Lease (empty holder, 1 s duration), so a
  standby takes over at its next retry instead of waiting for the lease to expire.

Defaults are client-go's: lease 15 s, renew deadline 10 s, retry period 2 s.
"""

from __future__ import annotations

import datetime
import logging
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from lbctl.controller.kubeapi import raw
from lbctl.controller.reconciler import Fenced

log = logging.getLogger("lbctl.controller.leader")

Obj = dict[str, Any]


def default_identity() -> str:
    """hostname_uuid, as the upstream controller managers name themselves."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


def micro_time(seconds: float) -> str:
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeadershipLost(Fenced):
    pass


class LeaderElector:
    def __init__(
        self,
        api_client: Any,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        clock: Callable[[], float] = time.monotonic,  # test seam: observed-time clock
        wall: Callable[[], float] = time.time,  # test seam: times written to the Lease
        rng: random.Random | None = None,
    ) -> None:
        if not retry_period < renew_deadline < lease_duration:
            raise ValueError(
                "leader election needs retry period < renew deadline < lease duration, got "
                f"{retry_period} / {renew_deadline} / {lease_duration}"
            )
        self.coordination = client.CoordinationV1Api(api_client)
        self.namespace, self.name, self.identity = namespace, name, identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.clock, self.wall = clock, wall
        self.rng = rng or random.Random()
        self.leading = threading.Event()
        self.lost = threading.Event()
        self._observed: tuple[str, str] | None = None  # (holder, renewTime) last seen
        self._observed_at = 0.0
        self._last_renew = 0.0
        self._lease: Obj | None = None

    # --- what the controller asks --------------------------------------------------------

    def is_leader(self) -> bool:
        return self.leading.is_set() and self.clock() - self._last_renew < self.renew_deadline

    def fence(self) -> None:
        """Raise LeadershipLost unless this replica holds the lease right now."""
        if not self.is_leader():
            raise LeadershipLost(f"{self.identity} is not the leader")

    # --- the loop --------------------------------------------------------------------------

    def run(
        self,
        stop: threading.Event,
        *,
        on_started_leading: Callable[[], None] = lambda: None,
        on_stopped_leading: Callable[[], None] = lambda: None,
        release: Callable[[], bool] = lambda: True,
    ) -> None:
        """Acquire, then renew until `stop` or a missed renew deadline.

        `release()` is asked at shutdown whether to give the lease back (a test seam: a
        "killed" leader does not).
        """
        while not stop.is_set():
            if self.try_acquire_or_renew():
                break
            stop.wait(self.retry_period * self.rng.uniform(1.0, 1.2))
        if stop.is_set():
            return
        self.leading.set()
        log.info("became leader", extra={"lease": self._where(), "identity": self.identity})
        on_started_leading()
        while not stop.wait(self.retry_period):
            if self.try_acquire_or_renew():
                continue
            if self.clock() - self._last_renew >= self.renew_deadline:
                self.leading.clear()
                self.lost.set()
                log.error("leader lease lost", extra={"lease": self._where()})
                on_stopped_leading()
                return
        was_leading = self.leading.is_set()
        self.leading.clear()
        if was_leading and release():
            self.release()

    def _where(self) -> str:
        return f"{self.namespace}/{self.name}"

    # --- one attempt -------------------------------------------------------------------------

    def _get(self) -> Obj | None:
        try:
            return raw(
                self.coordination.read_namespaced_lease(
                    self.name, self.namespace, _preload_content=False
                )
            )
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def try_acquire_or_renew(self) -> bool:
        try:
            return self._try()
        except ApiException as e:
            if e.status != 409:
                log.warning("lease update failed", extra={"status": e.status, "error": e.reason})
            return False
        except Exception as e:  # network trouble: retried at the next period
            log.warning("lease update failed", extra={"error": str(e)[:200]})
            return False

    def _spec(self, *, acquire: str, transitions: int) -> Obj:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.lease_duration)),
            "acquireTime": acquire,
            "renewTime": micro_time(self.wall()),
            "leaseTransitions": transitions,
        }

    def _try(self) -> bool:
        now = micro_time(self.wall())
        lease = self._get()
        if lease is None:
            body: Any = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(acquire=now, transitions=0),
            }
            self._lease = raw(
                self.coordination.create_namespaced_lease(
                    self.namespace, body, _preload_content=False
                )
            )
            self._renewed()
            return True
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        record = (holder, str(spec.get("renewTime") or ""))
        if record != self._observed:
            self._observed, self._observed_at = record, self.clock()
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        if holder and holder != self.identity and self.clock() < self._observed_at + duration:
            return False  # held by another replica that renewed recently
        mine = holder == self.identity
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if mine else 1)
        update: Any = dict(lease)
        update["spec"] = self._spec(
            acquire=str(spec.get("acquireTime") or now) if mine else now, transitions=transitions
        )
        self._lease = raw(
            self.coordination.replace_namespaced_lease(
                self.name, self.namespace, update, _preload_content=False
            )
        )
        if not mine:
            log.info("acquired lease", extra={"lease": self._where(), "previous": holder or None})
        self._renewed()
        return True

    def _renewed(self) -> None:
        self._last_renew = self.clock()
        spec = (self._lease or {}).get("spec") or {}
        self._observed = (self.identity, str(spec.get("renewTime") or ""))
        self._observed_at = self._last_renew

    def release(self) -> bool:
        """Give the lease back (empty holder), if this replica still holds it."""
        try:
            lease = self._get()
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return False
            body: Any = dict(lease)
            now = micro_time(self.wall())
            body["spec"] = {
                **(lease.get("spec") or {}),
                "holderIdentity": None,
                "leaseDurationSeconds": 1,
                "renewTime": now,
                "acquireTime": now,
            }
            raw(
                self.coordination.replace_namespaced_lease(
                    self.name, self.namespace, body, _preload_content=False
                )
            )
            log.info("released lease", extra={"lease": self._where()})
            return True
        except Exception as e:
            log.warning("could not release lease", extra={"error": str(e)[:200]})
            return False
