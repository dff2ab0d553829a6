#!/bin/bash
# LocalStack READY hook: seed lbctl's sandbox cluster network - the VPC tagged for the
# cluster, public and private subnets with the kubernetes.io/role/(internal-)elb tags, the
# internet gateway and public route table, the node security group, node instances and a
# self-signed ACM certificate - with the code that seeds the moto sandbox:
# `python -m lbctl.sandbox.aws_external seed` (lbctl/sandbox/aws.py, mounted at /opt/lbctl by
# compose.yaml). --if-missing: a restart with persisted state does not seed twice.
#
# The LBCTL_SEED_* variables exist for tests/sandbox/test_localstack.py, which runs this
# script against a moto server; inside the container the defaults apply.
set -euo pipefail

endpoint="${LBCTL_SEED_ENDPOINT:-http://localhost:4566}"
source_dir="${LBCTL_SEED_SOURCE:-/opt/lbctl}"
python="${LBCTL_SEED_PYTHON:-/opt/code/localstack/.venv/bin/python}"
if [ ! -x "$python" ]; then
    python="$(command -v python3)"
fi

if [ ! -f "$source_dir/lbctl/sandbox/aws_external.py" ]; then
    echo "lbctl seed hook: $source_dir/lbctl/sandbox/aws_external.py is missing (compose.yaml mounts ../lbctl there)" >&2
    exit 1
fi
if ! "$python" -c 'import boto3, cryptography, yaml' 2>/dev/null; then
    echo "lbctl seed hook: $python lacks boto3, cryptography or PyYAML; seed from the host instead" >&2
    exit 1
fi

export PYTHONPATH="$source_dir${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" -m lbctl.sandbox.aws_external seed \
    --endpoint "$endpoint" \
    --region "${LBCTL_SEED_REGION:-us-east-1}" \
    --cluster-id "${LBCTL_SEED_CLUSTER_ID:-sandbox}" \
    --if-missing
