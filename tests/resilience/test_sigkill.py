"""`lbctl run` SIGKILLed at 8 random points (20 with LBCTL_RESILIENCE=long) during apply
and delete, then restarted.

A real `lbctl run` process (so SIGKILL is real: no handler, no finally, no cleanup) works
on two Services, one with a classic ELB and one with an NLB. Each round kills it once while
it creates their balancers and once while it deletes them; each time a new process is started on
the same API server (which kept its state) and the same moto account (which kept its
state), and must converge: every Service gets its ingress with exactly one balancer,
target group, listener and security group of each, and after the delete every Service
object is gone and nothing owned is left in the account.

Kill points: the write calls a pass makes are counted through a proxy (tests/resilience/
killing.py); the kill lands on a seeded random write of the pass (a kill during a read is
one before the pass began: nothing half-done to recover from), stratified so that the
kills of each kind spread over all the pass's writes, and that write is either sent to
the cloud or not (seeded too). Sizing: 1 calibration round + 4 rounds x 2 kills by
default, 10 rounds in the long profile (`make resilience`); two Services of ~20 cloud
calls (12 writes to apply, 6 to delete) per pass, one worker (the order of the writes, and
so each kill point, is then the same on every run); about 2.5 s per kill, restart
included (the whole test ~30 s by default, ~60 s long, on 2 cores).
"""

from __future__ import annotations

import functools
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from lbctl.calls import is_read
from tests.resilience.conftest import World, lb_name, service_body, sized, wait_for
from tests.resilience.killing import Forker, KillGate, KillPoint, LbctlRun

T = TypeVar("T")
SEED = 20241127
ROUNDS = sized(4, long=10)
CONVERGE_WITHIN = 20.0  # seconds, from the restart (a pass takes ~2 s)


@pytest.fixture
def gate(world: World) -> KillGate:
    running = KillGate(world.moto.endpoint).start()
    yield running
    running.stop()


class Runs:
    """Starts each `lbctl run` in turn (forked from one process that did the imports once);
    keeps their logs for the failure message."""

    def __init__(self, world: World, gate: KillGate, directory: Path) -> None:
        self.world = world
        self.directory = directory
        self.forker = Forker(dict(os.environ, AWS_ENDPOINT_URL=gate.url))
        self.all: list[LbctlRun] = []

    def start(self) -> LbctlRun:
        run = LbctlRun(
            forker=self.forker,
            kubeconfig=self.world.kubeconfig,
            cloud_config=self.world.cloud_config,
            log=self.directory / f"lbctl-{len(self.all):02d}.log",
        ).start()
        self.all.append(run)
        run.wait_working()
        return run

    def stop(self) -> None:
        for run in self.all:
            run.stop()
        self.forker.close()


def writes_of(operations: list[str]) -> list[str]:
    return [op for op in operations if not is_read(op)]


def round_services(r: int) -> list[dict[str, Any]]:
    """A classic ELB and an NLB."""
    return [
        service_body(f"r{r}-clb", ports=[(80, 30200 + 10 * r)]),
        service_body(f"r{r}-nlb", nlb=True, ports=[(80, 30201 + 10 * r)]),
    ]


def applied(world: World, names: list[str], expected: list[str]) -> Callable[[], bool]:
    """Every Service has its ingress; one balancer each, one target group per NLB, one
    security group per classic ELB; nothing twice."""

    def check() -> bool:
        if world.without_ingress(names):
            return False
        cloud = world.cloud()
        return (
            sorted(cloud.balancers) == expected
            and not cloud.duplicates()
            and len(cloud.target_groups) == len(cloud.network)
            and len(cloud.security_groups) == len(cloud.classic)
            and all(len(ports) == 1 for ports in cloud.listeners.values())
        )

    return check


def create_all(world: World, bodies: list[dict[str, Any]]) -> list[str]:
    return [world.create(b)["metadata"]["uid"] for b in bodies]


def delete_all(world: World, names: list[str]) -> None:
    for name in names:
        world.delete(name)  # as kubectl delete does: the finalizer keeps it until cleanup


def deleted(world: World) -> bool:
    return not world.services() and world.cloud().empty()


def test_sigkill_during_apply_and_delete_then_restart_converges(
    world: World, gate: KillGate, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    runs = Runs(world, gate, tmp_path)
    kills: list[str] = []
    try:
        current = runs.start()

        # Calibration, uninterrupted: how many writes each pass makes.
        bodies = round_services(99)
        names = [b["metadata"]["name"] for b in bodies]
        before = gate.writes, len(gate.operations)
        uids = create_all(world, bodies)
        wait_for(
            applied(world, names, sorted(lb_name(u) for u in uids)),
            timeout=CONVERGE_WITHIN,
            what="the calibration apply",
        )
        apply_writes = gate.writes - before[0]
        apply_ops = writes_of(gate.operations[before[1] :])
        before = gate.writes, len(gate.operations)
        delete_all(world, names)
        wait_for(lambda: deleted(world), timeout=CONVERGE_WITHIN, what="the calibration delete")
        delete_writes = gate.writes - before[0]
        delete_ops = writes_of(gate.operations[before[1] :])
        assert apply_writes >= 8 and delete_writes >= 4, (apply_ops, delete_ops)
        kills.append(f"calibration: apply writes {apply_ops}; delete writes {delete_ops}")

        def kill_during(writes: int, r: int, what: str, change: Callable[[], T]) -> T:
            """Arm a kill at a random write of the pass `change` starts, make the change,
            and once the process is dead start the next one."""
            nonlocal current
            point = KillPoint(
                index=1 + int((r + rng.random()) / ROUNDS * writes), forwarded=rng.random() < 0.5
            )
            gate.arm(point, current.kill)
            result = change()
            assert gate.fired.wait(CONVERGE_WITHIN), f"{what}: the pass never reached {point}"
            killed_at = time.monotonic()
            current = runs.start()  # same API server, same moto account
            kills.append(f"{what} {point}; restarted in {time.monotonic() - killed_at:.1f}s")
            return result

        for r in range(ROUNDS):
            bodies = round_services(r)
            names = [b["metadata"]["name"] for b in bodies]
            uids = kill_during(
                apply_writes, r, f"round {r} apply", functools.partial(create_all, world, bodies)
            )
            started = time.monotonic()
            wait_for(
                applied(world, names, sorted(lb_name(u) for u in uids)),
                timeout=CONVERGE_WITHIN,
                what=f"round {r}: convergence after the kill during apply ({kills[-1]})",
            )
            kills[-1] += f", converged in {time.monotonic() - started:.1f}s"
            kill_during(
                delete_writes, r, f"round {r} delete", functools.partial(delete_all, world, names)
            )
            started = time.monotonic()
            wait_for(
                lambda: deleted(world),
                timeout=CONVERGE_WITHIN,
                what=f"round {r}: convergence after the kill during delete ({kills[-1]})",
            )
            kills[-1] += f", converged in {time.monotonic() - started:.1f}s"
    except AssertionError as e:
        cloud = world.cloud()
        raise AssertionError(
            f"{e}\nkills so far:\n  " + "\n  ".join(kills) + f"\nservices: "
            f"{sorted(world.services())}\ncloud leftovers: {cloud.leftovers()}\n"
            f"duplicates: {cloud.duplicates()}\nlast log:\n{runs.all[-1].tail()}"
        ) from e
    finally:
        runs.stop()
        print("\nkill points:\n  " + "\n  ".join(kills))
    assert len(kills) == 1 + 2 * ROUNDS
    left = world.cloud()
    assert left.empty(), left.leftovers()
