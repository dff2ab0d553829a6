"""AWS emulators this process did not start: LocalStack, or a moto server run elsewhere.

What `make test-localstack` (localstack/) and the AWS tests with ``LBCTL_AWS_ENDPOINT`` set
need: which emulator answers at an endpoint, resetting it, wiping a region through the
AWS APIs, finding a cluster seeded there, checking the services answer, and the command
line ``python -m lbctl.sandbox.aws_external {seed,check,reset} --endpoint URL`` (the
LocalStack init hook runs its ``seed``). The seeding itself is ``lbctl.sandbox.aws``'s,
the one the moto sandbox uses.

boto3 is imported only inside functions, as in ``lbctl.sandbox.aws``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from lbctl.sandbox.aws import (
    CERTIFICATE_DOMAIN,
    ENDPOINT_VARIABLE,
    MotoServer,
    SeededCluster,
    SeededInstance,
    boto_client,
    node_object,
    nothing,
    post,
    seed_cluster,
    write_sandbox_files,
)


def _get_json(url: str, timeout: float) -> Any:
    """The JSON body of ``GET url``, or None when it answers but not with JSON (or not 200).

    Raises ``urllib.error.URLError`` (not ``HTTPError``) when nothing answers at all.
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def endpoint_kind(endpoint: str, *, timeout: float = 10) -> str:
    """``"localstack"``, ``"moto"`` or ``"other"``: which emulator answers at ``endpoint``.

    LocalStack answers ``GET /_localstack/health`` with its services; moto answers
    ``GET /moto-api/data.json`` with its models. Raises ``ConnectionError`` when nothing
    answers at ``endpoint`` at all.
    """
    base = endpoint.rstrip("/")
    try:
        health = _get_json(f"{base}/_localstack/health", timeout)
        if isinstance(health, dict) and "services" in health:
            return "localstack"
        if isinstance(_get_json(f"{base}/moto-api/data.json", timeout), dict):
            return "moto"
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ConnectionError(f"no AWS endpoint answers at {endpoint}: {reason}") from error
    return "other"


def connect(
    endpoint: str, *, kind: str | None = None, regions: Sequence[str] = ("us-east-1",)
) -> MotoServer:
    """Wrap an emulator that is already running at ``endpoint``; nothing is started.

    ``kind`` (found by :func:`endpoint_kind` when not given) picks what ``reset()`` does:

    - ``"moto"``: moto's ``POST /moto-api/reset``;
    - ``"localstack"``: LocalStack's ``POST /_localstack/state/reset`` (its documented
      internal endpoint); if that answers with an HTTP error (an edition or version
      without it), the resources are deleted through the AWS APIs instead, as for
      ``"other"``;
    - ``"other"``: :func:`wipe_region` for each of ``regions`` - everything the sandbox
      and lbctl create there is deleted through the AWS APIs.

    ``stop()`` leaves the emulator running.
    """
    base = endpoint.rstrip("/")
    found = kind if kind is not None else endpoint_kind(base)
    if found not in ("moto", "localstack", "other"):
        raise ValueError(f"unknown endpoint kind {found!r}")

    def wipe() -> None:
        for region in regions:
            wipe_region(base, region)

    def reset_localstack() -> None:
        try:
            post(f"{base}/_localstack/state/reset")
        except urllib.error.HTTPError as error:
            logging.getLogger(__name__).warning(
                "%s/_localstack/state/reset answered %s; deleting resources instead",
                base,
                error.code,
            )
            wipe()

    resets: dict[str, Callable[[], None] | None] = {
        "moto": None,
        "localstack": reset_localstack,
        "other": wipe,
    }
    return MotoServer(endpoint=base, _stop=nothing, kind=found, _reset=resets[found])


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def wipe_region(endpoint: str, region: str) -> None:
    """Delete, through the AWS APIs, everything the sandbox and lbctl create in ``region``.

    For emulators without a reset of their own: ELB and ELBv2 load balancers, target
    groups, instances, every security group, subnet, route table, internet gateway and
    VPC except the default VPC's, and ACM certificates. Each deletion is tried even if
    an earlier one failed; a ``RuntimeError`` lists the failures at the end.
    """
    from botocore.exceptions import ClientError

    failures: list[str] = []

    def attempt(what: str, call: Callable[..., Any], **kwargs: Any) -> None:
        try:
            call(**kwargs)
        except ClientError as error:
            failures.append(f"{what}: {error}")

    elbv2 = boto_client("elbv2", endpoint, region)
    for lb in _pages(elbv2, "describe_load_balancers", "LoadBalancers"):
        arn = lb["LoadBalancerArn"]
        attempt(f"load balancer {arn}", elbv2.delete_load_balancer, LoadBalancerArn=arn)
    for group in _pages(elbv2, "describe_target_groups", "TargetGroups"):
        arn = group["TargetGroupArn"]
        attempt(f"target group {arn}", elbv2.delete_target_group, TargetGroupArn=arn)

    elb = boto_client("elb", endpoint, region)
    for lb in _pages(elb, "describe_load_balancers", "LoadBalancerDescriptions"):
        name = lb["LoadBalancerName"]
        attempt(f"classic load balancer {name}", elb.delete_load_balancer, LoadBalancerName=name)

    ec2 = boto_client("ec2", endpoint, region)
    live = ["pending", "running", "stopping", "stopped"]
    instance_ids = [
        instance["InstanceId"]
        for reservation in _pages(
            ec2,
            "describe_instances",
            "Reservations",
            Filters=[{"Name": "instance-state-name", "Values": live}],
        )
        for instance in reservation["Instances"]
    ]
    if instance_ids:
        attempt("instances", ec2.terminate_instances, InstanceIds=instance_ids)

    vpc_ids = [
        vpc["VpcId"] for vpc in _pages(ec2, "describe_vpcs", "Vpcs") if not vpc.get("IsDefault")
    ]
    if vpc_ids:
        # AWS deletes a terminated instance's interfaces; moto keeps them, still attached.
        for interface in _pages(
            ec2,
            "describe_network_interfaces",
            "NetworkInterfaces",
            Filters=[{"Name": "vpc-id", "Values": vpc_ids}],
        ):
            interface_id = interface["NetworkInterfaceId"]
            attempt(
                f"network interface {interface_id}",
                ec2.delete_network_interface,
                NetworkInterfaceId=interface_id,
            )
    groups = list(_pages(ec2, "describe_security_groups", "SecurityGroups"))
    # Rules first: a group another group's rule names cannot be deleted.
    for group in groups:
        for revoke, key in (
            (ec2.revoke_security_group_ingress, "IpPermissions"),
            (ec2.revoke_security_group_egress, "IpPermissionsEgress"),
        ):
            if group.get(key) and group["GroupName"] != "default":
                attempt(
                    f"rules of {group['GroupId']}",
                    revoke,
                    GroupId=group["GroupId"],
                    IpPermissions=group[key],
                )
    for group in groups:
        if group["GroupName"] != "default":
            attempt(
                f"security group {group['GroupId']}",
                ec2.delete_security_group,
                GroupId=group["GroupId"],
            )

    if vpc_ids:
        in_vpcs = [{"Name": "vpc-id", "Values": vpc_ids}]
        for table in _pages(ec2, "describe_route_tables", "RouteTables", Filters=in_vpcs):
            main_table = False
            for association in table.get("Associations", []):
                if association.get("Main"):
                    main_table = True
                else:
                    attempt(
                        f"route table association {association['RouteTableAssociationId']}",
                        ec2.disassociate_route_table,
                        AssociationId=association["RouteTableAssociationId"],
                    )
            if not main_table:
                table_id = table["RouteTableId"]
                attempt(f"route table {table_id}", ec2.delete_route_table, RouteTableId=table_id)
        for subnet in _pages(ec2, "describe_subnets", "Subnets", Filters=in_vpcs):
            subnet_id = subnet["SubnetId"]
            attempt(f"subnet {subnet_id}", ec2.delete_subnet, SubnetId=subnet_id)

    for gateway in _pages(ec2, "describe_internet_gateways", "InternetGateways"):
        gateway_id = gateway["InternetGatewayId"]
        attached = [a["VpcId"] for a in gateway.get("Attachments", [])]
        if any(vpc_id not in vpc_ids for vpc_id in attached):
            continue  # the default VPC's gateway
        for vpc_id in attached:
            attempt(
                f"attachment of {gateway_id}",
                ec2.detach_internet_gateway,
                InternetGatewayId=gateway_id,
                VpcId=vpc_id,
            )
        attempt(
            f"internet gateway {gateway_id}",
            ec2.delete_internet_gateway,
            InternetGatewayId=gateway_id,
        )
    for vpc_id in vpc_ids:
        attempt(f"vpc {vpc_id}", ec2.delete_vpc, VpcId=vpc_id)

    acm = boto_client("acm", endpoint, region)
    for certificate in _pages(acm, "list_certificates", "CertificateSummaryList"):
        arn = certificate["CertificateArn"]
        attempt(f"certificate {arn}", acm.delete_certificate, CertificateArn=arn)

    if failures:
        raise RuntimeError(f"could not delete everything in {region} at {endpoint}: {failures}")


def find_cluster(
    endpoint: str, *, region: str = "us-east-1", cluster_id: str = "sandbox"
) -> SeededCluster | None:
    """The cluster :func:`seed_cluster` made at ``endpoint``, read back; None if there is none.

    Found by its VPC's tags (``Name=lbctl-sandbox`` and the cluster tag); with several
    such VPCs, the one with the smallest id. What :func:`seed_cluster` returned and what
    this reads back compare equal.
    """
    ec2 = boto_client("ec2", endpoint, region)
    cluster_tag = f"kubernetes.io/cluster/{cluster_id}"
    vpcs = ec2.describe_vpcs(
        Filters=[
            {"Name": "tag:Name", "Values": ["lbctl-sandbox"]},
            {"Name": f"tag:{cluster_tag}", "Values": ["shared"]},
        ]
    )["Vpcs"]
    if not vpcs:
        return None
    vpc_id: str = min(vpc["VpcId"] for vpc in vpcs)
    in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]

    public_subnets: dict[str, str] = {}
    private_subnets: dict[str, str] = {}
    for subnet in ec2.describe_subnets(Filters=in_vpc)["Subnets"]:
        tags = {tag["Key"]: tag["Value"] for tag in subnet.get("Tags", [])}
        if tags.get(cluster_tag) != "shared":
            continue
        if "kubernetes.io/role/elb" in tags:
            public_subnets[subnet["AvailabilityZone"]] = subnet["SubnetId"]
        elif "kubernetes.io/role/internal-elb" in tags:
            private_subnets[subnet["AvailabilityZone"]] = subnet["SubnetId"]

    gateways = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}]
    )["InternetGateways"]
    groups = ec2.describe_security_groups(
        Filters=[*in_vpc, {"Name": "group-name", "Values": [f"k8s-nodes-{cluster_id}"]}]
    )["SecurityGroups"]

    found: list[tuple[int, SeededInstance, str]] = []
    reservations = ec2.describe_instances(
        Filters=[
            *in_vpc,
            {"Name": f"tag:{cluster_tag}", "Values": ["owned"]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )["Reservations"]
    for reservation in reservations:
        for instance in reservation["Instances"]:
            tags = {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}
            name = tags.get("Name", "")
            index = int(name.removeprefix("node-")) if name.startswith("node-") else 1 << 30
            seeded = SeededInstance(
                instance_id=instance["InstanceId"],
                az=instance["Placement"]["AvailabilityZone"],
                private_dns_name=instance["PrivateDnsName"],
                private_ip=instance["PrivateIpAddress"],
            )
            found.append((index, seeded, instance["InstanceType"]))
    found.sort(key=lambda item: (item[0], item[1].instance_id))

    acm = boto_client("acm", endpoint, region)
    certificate_arn = ""
    summaries = acm.list_certificates()["CertificateSummaryList"]
    for summary in sorted(summaries, key=lambda item: str(item["CertificateArn"])):
        if summary.get("DomainName") != CERTIFICATE_DOMAIN:
            continue
        arn = summary["CertificateArn"]
        tags = {
            t["Key"]: t["Value"] for t in acm.list_tags_for_certificate(CertificateArn=arn)["Tags"]
        }
        if tags.get(cluster_tag) == "shared":
            certificate_arn = arn
            break

    return SeededCluster(
        cluster_id=cluster_id,
        region=region,
        vpc_id=vpc_id,
        public_subnets=dict(sorted(public_subnets.items())),
        private_subnets=dict(sorted(private_subnets.items())),
        internet_gateway_id=gateways[0]["InternetGatewayId"] if gateways else "",
        node_security_group_id=groups[0]["GroupId"] if groups else "",
        instances=[seeded for _, seeded, _ in found],
        nodes=[node_object(seeded, itype, region) for _, seeded, itype in found],
        certificate_arn=certificate_arn,
    )


def check_services(endpoint: str, region: str = "us-east-1") -> list[str]:
    """One cheap read per API lbctl and the sandbox use; a message for each that fails.

    An empty list means EC2, ELB, ELBv2 and ACM all answer. LocalStack's community edition,
    for one, answers ELB and ELBv2 with HTTP 501 ("not included in your current license
    plan").
    """
    from botocore.exceptions import BotoCoreError, ClientError

    probes: list[tuple[str, str, str]] = [
        ("ec2", "describe_vpcs", "EC2"),
        ("elb", "describe_load_balancers", "ELB (classic)"),
        ("elbv2", "describe_load_balancers", "ELBv2"),
        ("acm", "list_certificates", "ACM"),
    ]
    problems: list[str] = []
    for service, operation, label in probes:
        try:
            getattr(boto_client(service, endpoint, region), operation)()
        except ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
            problems.append(f"{label}: HTTP {status}: {error}")
        except BotoCoreError as error:
            problems.append(f"{label}: {error}")
    return problems


def _summary(cluster: SeededCluster) -> str:
    subnets = len(cluster.public_subnets) + len(cluster.private_subnets)
    return (
        f"cluster {cluster.cluster_id!r} in {cluster.region}: {cluster.vpc_id}, {subnets} subnets,"
        f" {len(cluster.instances)} instances, node group {cluster.node_security_group_id},"
        f" certificate {cluster.certificate_arn or '(none)'}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lbctl.sandbox.aws_external {seed,check,reset} --endpoint URL``.

    ``seed`` creates the sandbox's cluster network (:func:`seed_cluster`) at an emulator that
    is already running, or with ``--if-missing`` reads back the one that is there
    (:func:`find_cluster`); ``--out DIR`` writes ``nodes.yaml``, ``cloud-config`` and
    ``certificate-arn`` for it. ``check`` reports whether EC2, ELB, ELBv2 and ACM answer.
    ``reset`` clears the emulator (:func:`connect`). The endpoint defaults to
    ``$LBCTL_AWS_ENDPOINT``. Exit status 0, or 1 with a message on standard error.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    parser = argparse.ArgumentParser(
        prog="python -m lbctl.sandbox.aws_external",
        description="Seed, check or reset an AWS emulator that is already running.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    commands = {
        "seed": sub.add_parser("seed", help="seed the sandbox cluster network"),
        "check": sub.add_parser("check", help="check that EC2, ELB, ELBv2 and ACM answer"),
        "reset": sub.add_parser("reset", help="clear every resource"),
    }
    for command in commands.values():
        command.add_argument(
            "--endpoint",
            default=os.environ.get(ENDPOINT_VARIABLE) or None,
            help=f"the emulator's URL (default: ${ENDPOINT_VARIABLE})",
        )
        command.add_argument("--region", default="us-east-1")
    seed = commands["seed"]
    seed.add_argument("--cluster-id", default="sandbox")
    seed.add_argument("--nodes", type=int, default=3, help="node instances (default 3)")
    seed.add_argument(
        "--if-missing", action="store_true", help="keep a cluster that is already seeded"
    )
    seed.add_argument("--out", type=Path, help="write nodes.yaml and cloud-config here")
    args = parser.parse_args(argv)
    if not args.endpoint:
        parser.error(f"--endpoint is required (or set {ENDPOINT_VARIABLE})")

    def say(message: str) -> None:
        print(f"lbctl sandbox: {message}", file=sys.stderr, flush=True)

    try:
        if args.command == "check":
            problems = check_services(args.endpoint, args.region)
            for problem in problems:
                say(f"{args.endpoint}: {problem}")
            if problems:
                return 1
            say(f"EC2, ELB, ELBv2 and ACM answer at {args.endpoint}")
            return 0
        if args.command == "reset":
            server = connect(args.endpoint, regions=(args.region,))
            server.reset()
            say(f"reset {args.endpoint} ({server.kind})")
            return 0
        cluster = None
        if args.if_missing:
            cluster = find_cluster(args.endpoint, region=args.region, cluster_id=args.cluster_id)
            if cluster is not None:
                say(f"already seeded at {args.endpoint}: {_summary(cluster)}")
        if cluster is None:
            cluster = seed_cluster(
                args.endpoint,
                region=args.region,
                cluster_id=args.cluster_id,
                node_count=args.nodes,
            )
            say(f"seeded at {args.endpoint}: {_summary(cluster)}")
        if args.out is not None:
            files = write_sandbox_files(args.out, cluster)
            say("wrote " + ", ".join(str(path) for path in files.values()))
        return 0
    except (BotoCoreError, ClientError, OSError, RuntimeError, ValueError) as error:
        say(f"error: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
