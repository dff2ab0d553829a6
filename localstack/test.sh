#!/usr/bin/env bash
# `make test-localstack`: lbctl's AWS end-to-end suite (tests/aws) against LocalStack
# instead of moto. Starts compose.yaml, checks that EC2, ELB, ELBv2 and ACM answer, makes
# sure the sandbox network is seeded (the init hook normally did it), runs pytest with
# LBCTL_AWS_ENDPOINT pointing at LocalStack, and tears LocalStack down again.
#
# Needs a Docker engine with the compose plugin and LOCALSTACK_AUTH_TOKEN (a licence that
# includes ELB); see localstack/README.md. Arguments go to pytest. LOCALSTACK_KEEP=1 leaves
# LocalStack running afterwards; LOCALSTACK_PORT moves it off port 4566.
set -euo pipefail

fail() {
    echo "test-localstack: $*" >&2
    exit 1
}

case "${BASH_SOURCE[0]}" in
*/*) here="${BASH_SOURCE[0]%/*}" ;;
*) here=. ;;
esac
here="$(cd "$here" && pwd)"
root="${here%/*}"
python="${LBCTL_PYTHON:-$root/.venv/bin/python}"
endpoint="http://127.0.0.1:${LOCALSTACK_PORT:-4566}"
compose=(docker compose --file "$here/compose.yaml")

command -v docker >/dev/null 2>&1 ||
    fail "docker not found: this needs a Docker engine with the compose plugin (localstack/README.md); \`make test\` and CI use moto and need neither"
docker compose version >/dev/null 2>&1 ||
    fail "\`docker compose\` is not available: install the Docker Compose plugin"
docker info >/dev/null 2>&1 ||
    fail "no Docker engine answers (\`docker info\` failed): start one, or use \`make test\` (moto)"
[ -n "${LOCALSTACK_AUTH_TOKEN:-}" ] ||
    fail "LOCALSTACK_AUTH_TOKEN is not set: the community edition answers ELB and ELBv2 with HTTP 501, so this needs an auth token whose licence includes ELB (localstack/README.md)"
[ -x "$python" ] || fail "$python not found: run \`make install\` first"

teardown() {
    if [ "${LOCALSTACK_KEEP:-0}" = 1 ]; then
        echo "test-localstack: LocalStack left running at $endpoint (LOCALSTACK_KEEP=1)" >&2
    else
        "${compose[@]}" down --remove-orphans --volumes >/dev/null 2>&1 || true
    fi
}
trap teardown EXIT

if ! "${compose[@]}" up --detach --wait; then
    "${compose[@]}" logs --tail 200 >&2 || true
    fail "LocalStack did not become healthy (its log is above)"
fi

cd "$root"
# A licence without ELB shows here, as one message instead of a hundred failed tests.
"$python" -m lbctl.sandbox.aws_external check --endpoint "$endpoint" ||
    fail "LocalStack at $endpoint does not serve every API the suite needs (above)"

# Did the READY hook seed? If not, say so; `seed --if-missing` below seeds from the host.
"$python" - "$endpoint" <<'PY' || true
import json
import sys
import urllib.request

with urllib.request.urlopen(sys.argv[1] + "/_localstack/init/ready", timeout=10) as answer:
    scripts = json.load(answer).get("scripts", [])
failed = [s.get("name", "?") for s in scripts if s.get("state") != "SUCCESSFUL"]
if failed:
    print(
        "test-localstack: warning: init hook(s) did not succeed: " + ", ".join(failed)
        + " (docker compose -f localstack/compose.yaml logs); seeding from the host",
        file=sys.stderr,
    )
PY
# The files lbctl needs for the seeded cluster, for use by hand with LOCALSTACK_KEEP=1.
"$python" -m lbctl.sandbox.aws_external seed --endpoint "$endpoint" --if-missing --out "$here/.sandbox"

# One process: the tests share this one LocalStack and reset it before each test.
LBCTL_AWS_ENDPOINT="$endpoint" "$python" -m pytest -q -n 0 tests/aws "$@"
