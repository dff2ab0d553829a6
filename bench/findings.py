"""Wasted or avoidable cloud calls the run exposed, each with where it is made and the fix.

Every finding is detected from this run's numbers: one that the code no longer shows is
not reported, so RESULTS.md never describes a waste that has been fixed. The diagnosis
(where, why, fix) was made by reading the code named in each finding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.harness import Measure, Results
from bench.report import Section
from lbctl import manifests


@dataclass(frozen=True)
class Finding:
    title: str
    where: str
    fix: str
    detect: Callable[[Results], str | None]  # the evidence, or None when not seen


def _ops(m: Measure | None, op: str) -> int:
    return m.by_operation.get(op, 0) if m is not None else 0


def _nlb_attributes(r: Results) -> str | None:
    n = _ops(r.single.get("new NLB"), "elbv2:ModifyLoadBalancerAttributes")
    fleet = _ops(r.converge.get("controller"), "elbv2:ModifyLoadBalancerAttributes")
    if not n and not fleet:
        return None
    return (
        f"new NLB: {n} elbv2:ModifyLoadBalancerAttributes writing "
        "`load_balancing.cross_zone.enabled=false`, `access_logs.s3.enabled=false`, which "
        f"is what a new NLB already has; {fleet} in the fleet converge (one per NLB). "
        "It is the one write over the new-NLB budget (10 > 9)."
    )


def _mtu_duplicate(r: Results) -> str | None:
    m = r.converge.get("controller")
    dup = (
        m.errors.get("ec2:AuthorizeSecurityGroupIngress InvalidPermission.Duplicate", 0) if m else 0
    )
    if not dup:
        return None
    return (
        f"{dup} of the converge's ec2:AuthorizeSecurityGroupIngress calls were answered "
        "InvalidPermission.Duplicate: every NLB after the first on a node group re-creates "
        "the shared ICMP path-MTU rule (`kubernetes.io/rule/nlb/mtu`), and the error is "
        "swallowed. A failed call still counts against EC2's request rate limit."
    )


def _listener_deletes(r: Results) -> str | None:
    n = _ops(r.single.get("delete NLB"), "elbv2:DeleteListener")
    if not n:
        return None
    return f"delete NLB: {n} elbv2:DeleteListener before elbv2:DeleteLoadBalancer."


def _split_rules(r: Results) -> str | None:
    auth = _ops(r.single.get("new NLB"), "ec2:AuthorizeSecurityGroupIngress")
    revoke = _ops(r.single.get("delete NLB"), "ec2:RevokeSecurityGroupIngress")
    if auth <= 1 and revoke <= 1:
        return None
    return (
        f"new NLB: {auth} ec2:AuthorizeSecurityGroupIngress, delete NLB: {revoke} "
        "ec2:RevokeSecurityGroupIngress, all on the one node group (client rules, then the "
        "MTU rule)."
    )


def _delete_reads(r: Results) -> str | None:
    clb, nlb = r.single.get("delete CLB"), r.single.get("delete NLB")
    if clb is None or nlb is None or (clb.reads <= 3 and nlb.reads <= 3):
        return None

    def listed(m: Measure) -> str:
        return ", ".join(
            f"{op}" + (f" x{c}" if c > 1 else "")
            for op, c in m.by_operation.items()
            if op.split(":")[1].startswith("Describe")
        )

    return (
        f"delete CLB: {clb.reads} reads ({listed(clb)}); delete NLB: {nlb.reads} reads "
        f"({listed(nlb)}). Budget: 3."
    )


def _policies(r: Results) -> str | None:
    n = _ops(r.resync, "elb:DescribeLoadBalancerPolicies")
    if not n:
        return None
    return (
        f"no-op resync: {n} elb:DescribeLoadBalancerPolicies (one per CLB), though none of "
        "the CLBs has a policy; the CLB no-op costs "
        f"{_ops(r.single.get('CLB no-op'), 'elb:DescribeLoadBalancerPolicies')} of them too."
    )


def _tg_attributes(r: Results) -> str | None:
    n = _ops(r.resync, "elbv2:DescribeTargetGroupAttributes")
    if not n:
        return None
    node = _ops(r.node_add, "elbv2:DescribeTargetGroupAttributes")
    return (
        f"no-op resync: {n} elbv2:DescribeTargetGroupAttributes (one per target group)"
        + (f", and {node} in the node sync" if node else "")
        + ", though no Service sets a target-group attribute or proxy protocol, so the diff "
        "compares none of what they return; the NLB no-op costs "
        f"{_ops(r.single.get('NLB no-op'), 'elbv2:DescribeTargetGroupAttributes')}."
    )


DETAIL_READS = (
    "elb:DescribeLoadBalancerAttributes",
    "elbv2:DescribeListeners",
    "elbv2:DescribeLoadBalancerAttributes",
    "elbv2:DescribeTargetHealth",
)


def _resync_details(r: Results) -> str | None:
    m = r.resync
    if m is None:
        return None
    # The detail cache re-reads at most K balancers per pass: only reads made for about
    # every balancer (count >= half of them, as the budget counts) are a finding.
    ops = [
        f"{op} x{m.by_operation[op]}"
        for op in DETAIL_READS
        if m.by_operation.get(op) and r.n and m.by_operation[op] >= r.n / 2
    ]
    if not ops:
        return None
    return f"no-op resync: {', '.join(ops)} (N = {r.n} CLBs and {r.n} NLBs, 2 target groups each)."


def _node_details(r: Results) -> str | None:
    m = r.node_add
    if m is None:
        return None
    ops = [
        f"{op} x{n}"
        for op, n in sorted(m.by_operation.items())
        if op.split(":")[1].startswith("Describe") and r.n and n >= r.n / 2
    ]
    if not ops:
        return None
    return (
        f"node sync: {', '.join(ops)} for {r.n} NLBs with 2 target groups each; "
        f"{m.reads} reads in all ({m.reads / (2 * r.n):.2f} per Service)."
    )


def _one_plan_per_key(r: Results) -> str | None:
    c, b, f = (r.converge.get(k) for k in ("controller", "batched", "floor"))
    if c is None or b is None or f is None or not f.calls or c.calls / f.calls <= 1.2:
        return None
    return (
        f"converge: {c.reads} reads for {2 * r.n} new Services ({c.reads / (2 * r.n):.1f} per "
        f"Service: both balancer kinds by name, instances, security groups, subnets, route "
        f"tables, re-read by every batch) = {c.calls / f.calls:.2f}x the floor; the same "
        f"fleet planned through the flow in batches made {b.reads} reads = "
        f"{b.calls / f.calls:.2f}x."
    )


def _offline(r: Results) -> str | None:
    if 1000 not in r.offline:
        return None
    cpu, reading = r.offline[1000]
    if cpu < 2.0:
        return None
    return (
        f"`lbctl plan --offline` over 1 000 Services: {cpu:.2f} s CPU, of which {reading:.2f} s "
        f"reading the manifests (with `yaml.{manifests.yaml_loader().__name__}`). Budget: 2 s."
    )


FINDINGS = (
    Finding(
        "A new NLB's attributes are written although they are AWS's defaults",
        "providers/aws/nlb_apply.py, `NLBHandlers._nlb_attributes`: on Op.CREATE `before` is "
        "`{}`, so every desired attribute counts as changed.",
        "Compare a created NLB against the attributes AWS gives a new network load balancer "
        "(`load_balancing.cross_zone.enabled=false`, `access_logs.s3.enabled=false`, "
        "`deletion_protection.enabled=false`): `before = NEW_NLB_DEFAULTS` on Op.CREATE. "
        "Saves 1 write per new NLB (new NLB 10 -> 9 writes: budget met). The CLB's "
        "ModifyLoadBalancerAttributes on create also writes the API's defaults (cross-zone "
        "off, draining off/300, idle 60, no access log) and could be skipped the same way; "
        "the floor and upstream both keep that one.",
        _nlb_attributes,
    ),
    Finding(
        "Every new NLB re-authorizes the shared MTU rule (InvalidPermission.Duplicate)",
        "providers/aws/nlb_observe.py, `node_rules`, reports the shared "
        "`kubernetes.io/rule/nlb/mtu` rule for a Service only while its own client rules use "
        "that CIDR, so for a new NLB it is always desired-but-not-observed: a CREATE; "
        "providers/aws/apply.py, `Applier._ingress`, then swallows the Duplicate error.",
        "In `Applier._security_group_ingress`, drop from `grant` every permission already "
        "present in `facts.groups[group_id]['IpPermissions']` (flattened: the group was read "
        "in this same sync, so it costs no call); or have `node_rules` report an existing "
        "MTU rule of the same CIDR for a wanted NLB, `shared_with` its other users. Saves 1 "
        "(failed) write per NLB after the first on each node group: N - 1 in the converge.",
        _mtu_duplicate,
    ),
    Finding(
        "Deleting an NLB deletes its listeners one by one first",
        "Deletes run in reverse kind order (lbctl/plan.py), so listeners go before the NLB; "
        "providers/aws/nlb_apply.py, `NLBHandlers._listener`, skips DeleteListener only when "
        "`nlb_deleted` is already set, which happens later.",
        "When the plan deletes the NLB (a DELETE of `aws:nlb` in `plan.changes`), skip "
        "DeleteListener (DeleteLoadBalancer removes the listeners) and defer the target "
        "groups' DeleteTargetGroup to `finish_nlb` (the existing `retired` list), so they "
        "run after DeleteLoadBalancer, when no listener uses them. Saves 1 write per port "
        "on every NLB delete (7 -> 5, upstream's count).",
        _listener_deletes,
    ),
    Finding(
        "Rules of one node group are written in separate calls",
        "providers/aws/apply.py, `Applier._security_group_ingress`: one Authorize/Revoke per "
        "`aws:security-group-ingress` change, and an NLB has two on the node group (its "
        "client rules and the shared MTU rule).",
        "Coalesce consecutive ingress changes of the same group id: collect grants and "
        "revokes per group and flush them (one Revoke, one Authorize) before the next kind's "
        "first change. Saves 1 write when the MTU rule changes with the client rules (the "
        "first NLB created on, and the last deleted from, a node group).",
        _split_rules,
    ),
    Finding(
        "Deletes read more than 3 times",
        "providers/aws/observe.py, `Observer.observe`: a delete looks the Service's balancer "
        "up under both kinds (elb and elbv2 DescribeLoadBalancers, so that a type switch "
        "never leaks), then reads the found one's tags (elb DescribeTags / elbv2 "
        "DescribeTags), an NLB's listeners and target groups (nlb_observe.NLBReader.read), "
        "and the VPC's security groups.",
        "For the CLB, `elb:DescribeTags(LoadBalancerNames=[lb])` alone answers both 'exists?' "
        "(LoadBalancerNotFound) and 'ours?', and a delete needs nothing from the description "
        "(DeleteLoadBalancer takes the name; the group is found by name among the VPC's): "
        "delete CLB 4 -> 3 reads (budget met). For the NLB, `DescribeTargetGroups("
        "LoadBalancerArn=...)` replaces DescribeListeners + DescribeTargetGroups(arns) for a "
        "delete (6 -> 5; the reader avoids it because moto answers it wrongly after a "
        "listener moved to a new group, which AWS does not). Reaching 3 for the NLB takes "
        "one Resource Groups Tagging API "
        "`tag:GetResources` (TagFilters cluster=owned and service-name, types "
        "elasticloadbalancing:loadbalancer and :targetgroup) in place of both kinds' "
        "lookups, tags and group reads (then 2 reads for either kind); that API is "
        "eventually consistent, so a balancer created seconds before would need the "
        "by-name lookup as a fallback when it finds nothing.",
        _delete_reads,
    ),
    Finding(
        "DescribeLoadBalancerPolicies for every CLB, with or without policies",
        "providers/aws/observe.py, `Observer._elb_parts`.",
        "DescribeLoadBalancers already returns `Policies.OtherPolicies` and each listener's "
        "and backend's `PolicyNames`: call DescribeLoadBalancerPolicies only when those name "
        "a policy or the Service wants one (proxy protocol, SSL negotiation), with "
        "`PolicyNames=` set to lbctl's. Saves 1 read per CLB on every resync, node sync and "
        "re-ensure (CLB no-op 9 -> 8).",
        _policies,
    ),
    Finding(
        "DescribeTargetGroupAttributes for every target group, compared against nothing",
        "providers/aws/nlb_observe.py, `NLBReader._details`, reads every wanted NLB's target "
        "groups' attributes; providers/aws/observe.py, `Observer._nlb`, keeps only the keys "
        "of `nlb.tg_attributes(parsed)`, which is empty unless the Service sets "
        "target-group-attributes or proxy-protocol.",
        "Pass the wanted attribute keys per balancer into `NLBReader.read` and skip the call "
        "when there are none. Saves 1 read per target group (2 per NLB here) on every "
        "resync, node sync and re-ensure (NLB no-op 14 -> 12).",
        _tg_attributes,
    ),
    Finding(
        "Node sync still reads every target group's targets",
        "providers/aws/nlb_observe.py, `NLBReader._details(targets_only=True)`: "
        "DescribeTargetHealth per target group (no batch form) for each NLB without a valid "
        "entry in the provider's detail cache (providers/aws/cache.py): on the first pass "
        "after a start, and for a balancer lbctl wrote to since its last full observe.",
        "The controller keeps one provider, so the cache is warm after any full pass (a "
        "resync, a reconcile); a node sync on a warm provider reads no per-Service detail. "
        "If this shows, check that the node sync ran on the controller's provider object "
        "and that no write to every balancer (a converge) came just before it.",
        _node_details,
    ),
    Finding(
        "Per-balancer detail reads in a resync",
        "providers/aws/observe.py (`Observer._elb_parts`) and nlb_observe.py "
        "(`NLBReader.read`, `_details`) read a balancer's attributes, an NLB's listeners and "
        "each target group's health (the AWS APIs have no batch form) only when the "
        "provider's detail cache (providers/aws/cache.py) has no valid entry: a balancer "
        "seen for the first time, one whose batched description changed, one lbctl wrote "
        "to since (every apply with a change invalidates its balancer), and K others per "
        "pass, oldest first (`DetailRefreshPerSync`, default 10).",
        "A resync right after a converge reads every balancer once: the converge wrote to "
        "all of them, and lbctl reads what it wrote before trusting a cache of it. The "
        "passes after that read at most K balancers' details. To save that first pass too, "
        "the applier would have to record what it wrote (listener ARNs, attributes as AWS "
        "reports them) in the cache instead of invalidating it.",
        _resync_details,
    ),
    Finding(
        "The controller plans too few Services per observe",
        "lbctl/controller/workers.py `Workers.worker` takes up to `--batch-size` ready keys "
        "(`WorkQueue.get_batch`), and reconciler.py `Reconciler.sync_many` plans each branch "
        "of a batch in one `flow.plan_services`: every batch repeats the shared describes.",
        "Raise `--batch-size` (the benchmark's `--batch`). A worker takes what is ready when "
        "it asks, so keys that trickle in one by one are planned one by one: check that the "
        "converge queues its keys before the worker runs.",
        _one_plan_per_key,
    ),
    Finding(
        "`lbctl plan --offline` is over its CPU budget",
        "lbctl/manifests.py `_parse` (JSON through json.loads, YAML through libyaml's "
        "CSafeLoader when PyYAML has it), then lbctl/flow.py `plan_services` and "
        "lbctl/render.py.",
        "When the parser named is `SafeLoader`, PyYAML was built without libyaml: install "
        "PyYAML from a wheel (they bundle libyaml). Otherwise profile the run (cProfile "
        "over `lbctl.cli.main`) to see which of reading, planning and rendering grew.",
        _offline,
    ),
)


def section(results: Results) -> Section:
    s = Section("Findings: wasted or avoidable calls, and the fixes")
    found = [(f, evidence) for f in FINDINGS if (evidence := f.detect(results))]
    if not found:
        s.text("None in this run.")
        return s
    s.text(
        "Detected from this run's numbers; the providers were not changed by the benchmark. "
        "Each gives the evidence, where the call is made and the fix."
    )
    s.text()
    for i, (f, evidence) in enumerate(found, 1):
        s.text(f"{i}. **{f.title}.**")
        s.text(f"   - Measured: {evidence}")
        s.text(f"   - Where: {f.where}")
        s.text(f"   - Fix: {f.fix}")
    return s
