"""The floor: a bare boto3 script that makes only the writes the fleet's balancers need.

No reads at all: it knows the subnets, instances and node security group from the seeding,
and nothing exists yet. Per CLB (7 calls): CreateSecurityGroup, one
AuthorizeSecurityGroupIngress for the listener ports and ICMP path-MTU, CreateLoadBalancer
(listeners and tags inline), ConfigureHealthCheck, ModifyLoadBalancerAttributes,
RegisterInstancesWithLoadBalancer, and the node group's rule from the ELB's group. Per NLB
(8 calls): CreateLoadBalancer, per port CreateTargetGroup + RegisterTargets +
CreateListener, and one AuthorizeSecurityGroupIngress on the node group with the client
rules (plus the shared MTU rule, with the first NLB only).
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from bench.harness import Obj
from lbctl.sandbox.aws import SeededCluster, boto_client

ICMP_MTU = {
    "IpProtocol": "icmp",
    "FromPort": 3,
    "ToPort": 4,
    "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "kubernetes.io/rule/nlb/mtu"}],
}


class Floor:
    def __init__(self, cluster: SeededCluster, node_count: int = 3) -> None:
        self.cluster = cluster
        self.counts: Counter[str] = Counter()
        self._clients: dict[str, Any] = {}
        self.instances = [i.instance_id for i in cluster.instances[:node_count]]
        self.subnets = sorted(cluster.public_subnets.values())
        self._mtu_done = False

    def _call(self, service: str, operation: str, **kwargs: Any) -> Any:
        if service not in self._clients:
            self._clients[service] = boto_client(
                service, os.environ["AWS_ENDPOINT_URL"], self.cluster.region
            )
        self.counts[f"{service}:{operation}"] += 1
        snake = "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")
        return getattr(self._clients[service], snake)(**kwargs)

    def _tags(self, svc: Obj) -> list[dict[str, str]]:
        meta = svc["metadata"]
        return [
            {"Key": f"kubernetes.io/cluster/{self.cluster.cluster_id}", "Value": "owned"},
            {"Key": "kubernetes.io/service-name", "Value": f"{meta['namespace']}/{meta['name']}"},
        ]

    @staticmethod
    def _name(svc: Obj) -> str:
        return ("a" + str(svc["metadata"]["uid"]).replace("-", ""))[:32]

    def clb(self, svc: Obj) -> None:
        lb = self._name(svc)
        ports = svc["spec"]["ports"]
        group = self._call(
            "ec2",
            "CreateSecurityGroup",
            GroupName=f"k8s-elb-{lb}",
            Description=f"Security group for Kubernetes ELB {lb}",
            VpcId=self.cluster.vpc_id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": self._tags(svc)}],
        )["GroupId"]
        self._call(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            GroupId=group,
            IpPermissions=[
                *(
                    {
                        "IpProtocol": "tcp",
                        "FromPort": p["port"],
                        "ToPort": p["port"],
                        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                    }
                    for p in ports
                ),
                {
                    "IpProtocol": "icmp",
                    "FromPort": 3,
                    "ToPort": 4,
                    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                },
            ],
        )
        self._call(
            "elb",
            "CreateLoadBalancer",
            LoadBalancerName=lb,
            Listeners=[
                {
                    "Protocol": "TCP",
                    "LoadBalancerPort": p["port"],
                    "InstanceProtocol": "TCP",
                    "InstancePort": p["nodePort"],
                }
                for p in ports
            ],
            Subnets=self.subnets,
            SecurityGroups=[group],
            Scheme="internet-facing",
            Tags=self._tags(svc),
        )
        self._call(
            "elb",
            "ConfigureHealthCheck",
            LoadBalancerName=lb,
            HealthCheck={
                "Target": f"TCP:{ports[0]['nodePort']}",
                "Interval": 10,
                "Timeout": 5,
                "UnhealthyThreshold": 6,
                "HealthyThreshold": 2,
            },
        )
        self._call(
            "elb",
            "ModifyLoadBalancerAttributes",
            LoadBalancerName=lb,
            LoadBalancerAttributes={
                "CrossZoneLoadBalancing": {"Enabled": False},
                "AccessLog": {"Enabled": False},
                "ConnectionDraining": {"Enabled": False, "Timeout": 300},
                "ConnectionSettings": {"IdleTimeout": 60},
            },
        )
        self._call(
            "elb",
            "RegisterInstancesWithLoadBalancer",
            LoadBalancerName=lb,
            Instances=[{"InstanceId": i} for i in self.instances],
        )
        self._call(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            GroupId=self.cluster.node_security_group_id,
            IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group}]}],
        )

    def nlb(self, svc: Obj) -> None:
        lb = self._name(svc)
        arn = self._call(
            "elbv2",
            "CreateLoadBalancer",
            Name=lb,
            Type="network",
            Scheme="internet-facing",
            SubnetMappings=[{"SubnetId": s} for s in self.subnets],
            Tags=self._tags(svc),
        )["LoadBalancers"][0]["LoadBalancerArn"]
        rules = []
        for p in svc["spec"]["ports"]:
            node_port = p["nodePort"]
            group = self._call(
                "elbv2",
                "CreateTargetGroup",
                Name=f"k8s-{lb[1:20]}-{node_port}",
                Protocol="TCP",
                Port=node_port,
                VpcId=self.cluster.vpc_id,
                TargetType="instance",
                HealthCheckProtocol="TCP",
                HealthCheckPort="traffic-port",
                HealthCheckIntervalSeconds=10,
                HealthCheckTimeoutSeconds=10,
                HealthyThresholdCount=2,
                UnhealthyThresholdCount=2,
                Tags=self._tags(svc),
            )["TargetGroups"][0]["TargetGroupArn"]
            self._call(
                "elbv2",
                "RegisterTargets",
                TargetGroupArn=group,
                Targets=[{"Id": i, "Port": node_port} for i in self.instances],
            )
            self._call(
                "elbv2",
                "CreateListener",
                LoadBalancerArn=arn,
                Port=p["port"],
                Protocol="TCP",
                DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
                Tags=self._tags(svc),
            )
            rules.append(
                {
                    "IpProtocol": "tcp",
                    "FromPort": node_port,
                    "ToPort": node_port,
                    "IpRanges": [
                        {
                            "CidrIp": "0.0.0.0/0",
                            "Description": f"kubernetes.io/rule/nlb/client={lb}",
                        }
                    ],
                }
            )
        if not self._mtu_done:
            rules.append(ICMP_MTU)
            self._mtu_done = True
        self._call(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            GroupId=self.cluster.node_security_group_id,
            IpPermissions=rules,
        )
