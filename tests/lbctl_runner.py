"""Running `lbctl plan|apply|delete` in the tests, through its CLI entry point exactly as a
user runs it, and reading its JSON document and `--stats` back. Provider-neutral: the AWS
and GCE helpers give it their provider's arguments."""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lbctl.cli import main

_STATS = re.compile(r"cloud calls: (\d+) reads, (\d+) writes")
_OP = re.compile(r"^  (\S+:\S+) (\d+)$", re.MULTILINE)


@dataclass
class Result:
    command: str
    rc: int
    out: str
    err: str
    output: str = "json"

    @property
    def doc(self) -> dict[str, Any]:
        assert self.output == "json", "only -o json output parses as a document"
        parsed: dict[str, Any] = json.loads(self.out)
        return parsed

    @property
    def plans(self) -> list[dict[str, Any]]:
        return list(self.doc["plans"])

    def plan(self, key: str = "default/web") -> dict[str, Any]:
        found = [p for p in self.plans if p["service"] == key]
        assert len(found) == 1, f"no single plan for {key}: {self.describe()}"
        return found[0]

    def changes(self, key: str = "default/web") -> list[dict[str, Any]]:
        return list(self.plan(key)["changes"])

    def ops(self, key: str = "default/web") -> dict[tuple[str, str], str]:
        """(kind, name) -> op of every change of one Service's plan."""
        return {(c["kind"], c["name"]): c["op"] for c in self.changes(key)}

    def ingress(self, key: str = "default/web") -> list[dict[str, str]]:
        return list(self.plan(key)["ingress"])

    @property
    def reads(self) -> int:
        return self._totals()[0]

    @property
    def writes(self) -> int:
        return self._totals()[1]

    def _totals(self) -> tuple[int, int]:
        match = _STATS.search(self.err)
        assert match, f"no --stats line on stderr: {self.err!r}"
        return int(match.group(1)), int(match.group(2))

    @property
    def calls(self) -> dict[str, int]:
        """`elb:CreateLoadBalancer` -> count, from --stats."""
        return {op: int(n) for op, n in _OP.findall(self.err)}

    def describe(self) -> str:
        return f"lbctl {self.command} exited {self.rc}\nstdout:\n{self.out}\nstderr:\n{self.err}"


@dataclass
class Lbctl:
    """Runs `lbctl plan|apply|delete` on Service manifests written under `directory`;
    `provider_args` go on every command line (`--provider gce ...`)."""

    directory: Path
    nodes_file: Path
    cloud_config: Path
    provider_args: tuple[str, ...] = ()
    _count: int = field(default=0, repr=False)

    def write(self, *services: dict[str, Any]) -> Path:
        self._count += 1
        path = self.directory / f"services-{self._count}.yaml"
        path.write_text(yaml.safe_dump_all(list(services), sort_keys=False), encoding="utf-8")
        return path

    def write_nodes(self, nodes: list[dict[str, Any]]) -> Path:
        self._count += 1
        path = self.directory / f"nodes-{self._count}.yaml"
        document = {"apiVersion": "v1", "kind": "List", "items": nodes}
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        return path

    def run(
        self,
        command: str,
        *services: dict[str, Any],
        output: str = "json",
        nodes: Path | None = None,
        extra: tuple[str, ...] = (),
    ) -> Result:
        argv = [
            command,
            *self.provider_args,
            "-f",
            str(self.write(*services)),
            "--cloud-config",
            str(self.cloud_config),
            "-o",
            output,
            "--stats",
            *extra,
        ]
        if command != "delete" or nodes is not None:
            argv += ["--nodes", str(nodes or self.nodes_file)]
        out, err = io.StringIO(), io.StringIO()
        rc = main(argv, out=out, err=err)
        return Result(command, rc, out.getvalue(), err.getvalue(), output)

    def plan(self, *services: dict[str, Any], **kw: Any) -> Result:
        return self.run("plan", *services, **kw)

    def apply(self, *services: dict[str, Any], **kw: Any) -> Result:
        return self.run("apply", *services, **kw)

    def delete(self, *services: dict[str, Any], **kw: Any) -> Result:
        return self.run("delete", *services, **kw)

    def apply_ok(self, *services: dict[str, Any], **kw: Any) -> Result:
        result = self.apply(*services, **kw)
        assert result.rc == 0, result.describe()
        for plan in result.plans:
            assert plan["errors"] == [], result.describe()
        return result

    def delete_ok(self, *services: dict[str, Any], **kw: Any) -> Result:
        result = self.delete(*services, **kw)
        assert result.rc == 0, result.describe()
        return result

    def in_sync(self, *services: dict[str, Any]) -> None:
        """Planned again, nothing changes; applied again, no write call is made."""
        again = self.apply_ok(*services)
        for plan in again.plans:
            assert plan["changes"] == [], again.describe()
        assert again.writes == 0, again.describe()
