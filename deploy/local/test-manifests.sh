#!/usr/bin/env bash
# Checks fila's deployment files offline: renders the Kubernetes base, each
# overlay, the overlay with the worker-hpa component and deploy/k8s/services
# with kustomize (kubectl's), checks every object against the Kubernetes
# schemas (kubernetes-validate, strict: an unknown field fails), skipping
# only the objects of the operators' CRDs named below, then what fila
# expects of them (probes, security context, grace period, alert rules),
# and deploy/docker-compose.yml against the Compose specification's schema.
# Needs no cluster and no Docker; the Python tools come from
# deploy/local/test-python.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

# The oldest and the newest Kubernetes versions the manifests must suit.
KUBERNETES_VERSIONS="1.30.0 1.37.0"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v kubectl >/dev/null 2>&1; then
  echo "test-manifests: installing kubectl with apt" >&2
  as_root apt-get update -qq
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubectl >&2; then
    echo "test-manifests: kubectl (1.27 or later, for its kustomize v5) is not installed and no apt source offers it: install it (https://kubernetes.io/docs/tasks/tools/) and run again" >&2
    exit 1
  fi
fi
kustomize_version=$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: v//p')
if [ "${kustomize_version%%.*}" -lt 5 ] 2>/dev/null || [ -z "$kustomize_version" ]; then
  echo "test-manifests: kubectl's kustomize is '${kustomize_version:-absent}'; 5.0 or later is needed (kubectl 1.27 or later)" >&2
  exit 1
fi

python=$(deploy/local/test-python.sh)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Render a copy, where each overlay's Secret file (git-ignored) is made from
# its example when absent.
cp -r deploy/k8s "$work/k8s"
for example in "$work"/k8s/overlays/*/fila.env.example; do
  [ -e "${example%.example}" ] || cp "$example" "${example%.example}"
done
mkdir "$work/k8s/overlays/prod-worker-hpa"
cat >"$work/k8s/overlays/prod-worker-hpa/kustomization.yaml" <<'EOF'
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: fila
resources:
  - ../prod
components:
  - ../../components/worker-hpa
EOF

mkdir "$work/rendered"
for target in base overlays/dev overlays/prod overlays/prod-worker-hpa services; do
  out="$work/rendered/${target//\//-}.yaml"
  if ! kubectl kustomize "$work/k8s/$target" >"$out"; then
    echo "test-manifests: deploy/k8s/$target does not render" >&2
    exit 1
  fi
done

"$python" - "$work/rendered" deploy/prometheus/alerts.yml $KUBERNETES_VERSIONS <<'PY'
"""Checks the rendered manifests: schemas, then fila's expectations."""
import pathlib
import re
import sys
import tomllib

import kubernetes_validate
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

# The operators' objects: their CRDs are not in the Kubernetes schemas.
CRDS = {
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"),
}
# A stopping worker waits for its relay this long after its grace period
# (worker/src/lib.rs, RELAY_DRAIN), and for its commands 2 s more.
RELAY_DRAIN_SECS = 10 + 2

rendered, alerts_path, *versions = sys.argv[1:]
failures = []


def fail(where, what):
    failures.append(f"{where}: {what}")


def config_of(objects):
    for obj in objects:
        if obj["kind"] == "ConfigMap" and "fila.toml" in obj.get("data", {}):
            return tomllib.loads(obj["data"]["fila.toml"])
    return None


def check_container(where, pod, container, probes):
    security = container.get("securityContext", {})
    if security.get("readOnlyRootFilesystem") is not True:
        fail(where, "the root filesystem is not read-only")
    if security.get("allowPrivilegeEscalation") is not False:
        fail(where, "privilege escalation is not refused")
    if security.get("capabilities", {}).get("drop") != ["ALL"]:
        fail(where, "capabilities are not all dropped")
    pod_security = pod.get("securityContext", {})
    if pod_security.get("runAsNonRoot") is not True:
        fail(where, "runAsNonRoot is not set")
    if pod_security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        fail(where, "the seccomp profile is not RuntimeDefault")
    resources = container.get("resources", {})
    for bound in ("requests", "limits"):
        if not {"cpu", "memory"} <= resources.get(bound, {}).keys():
            fail(where, f"resource {bound} lack cpu or memory")
    if probes:
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            if container.get(probe, {}).get("httpGet", {}).get("path") != path:
                fail(where, f"{probe} is not on {path}")


def check_fila(name, objects):
    config = config_of(objects)
    if config is None:
        return
    if config.get("migrate_on_start", True):
        fail(name, "fila.toml migrates on start, but the Job fila-migrate does")
    grace = config.get("worker_shutdown_grace_secs", 30)
    for obj in objects:
        kind, meta = obj["kind"], obj["metadata"]["name"]
        where = f"{name}: {kind} {meta}"
        if kind in ("Deployment", "Job"):
            pod = obj["spec"]["template"]["spec"]
            for container in pod["containers"]:
                check_container(where, pod, container, kind == "Deployment")
            if meta == "fila-worker":
                period = pod.get("terminationGracePeriodSeconds", 30)
                if period <= grace + RELAY_DRAIN_SECS:
                    fail(where, f"terminationGracePeriodSeconds {period} does not exceed "
                         f"worker_shutdown_grace_secs {grace} + {RELAY_DRAIN_SECS}")
        if kind == "ScaledObject":
            prefix = config.get("amqp_prefix", "fila")
            # The RabbitMQ queues of each work queue: TAF's six lanes on
            # quorum queues.
            lanes = {
                "taf": [f"{prefix}.taf.p{band}" for band in range(6)]
                if config.get("amqp_queue_type") == "quorum"
                else [f"{prefix}.taf"],
            }
            for trigger in obj["spec"]["triggers"]:
                meta = trigger["metadata"]
                queue = meta["queueName"]
                if meta.get("protocol") != "http":
                    fail(where, f"trigger {trigger['name']} counts only ready messages "
                         f"(protocol {meta.get('protocol')}): busy workers would be scaled away")
                names = lanes.get(trigger["name"], [queue])
                if meta.get("useRegex") == "true":
                    missed = [n for n in names if not re.fullmatch(queue, n)]
                    if missed or meta.get("operation") != "sum":
                        fail(where, f"trigger {trigger['name']} does not sum {', '.join(names)}")
                elif names != [queue]:
                    fail(where, f"trigger {trigger['name']} reads {queue}, not {', '.join(names)}")
                if not queue.lstrip("^").replace("\\", "").startswith(prefix + "."):
                    fail(where, f"queue {queue} is not under amqp_prefix {prefix}")
        if kind == "PrometheusRule":
            alerts = yaml.safe_load(pathlib.Path(alerts_path).read_text())
            if obj["spec"]["groups"] != alerts["groups"]:
                fail(where, f"its groups differ from {alerts_path}")


def check_postgres(name, objects):
    """PostgreSQL replicates synchronously to at least one standby."""
    for obj in objects:
        if (obj["apiVersion"], obj["kind"]) != ("postgresql.cnpg.io/v1", "Cluster"):
            continue
        where = f"{name}: Cluster {obj['metadata']['name']}"
        synchronous = obj["spec"].get("postgresql", {}).get("synchronous", {})
        if synchronous.get("number", 0) < 1:
            fail(where, "no synchronous standby (spec.postgresql.synchronous.number)")
        elif synchronous["number"] >= obj["spec"].get("instances", 1):
            fail(where, "more synchronous standbys than replicas")


for path in sorted(pathlib.Path(rendered).glob("*.yaml")):
    name = path.stem
    objects = [o for o in yaml.safe_load_all(path.read_text()) if o]
    if not objects:
        fail(name, "renders nothing")
    for obj in objects:
        api, kind = obj.get("apiVersion", ""), obj.get("kind", "")
        where = f"{name}: {kind} {obj.get('metadata', {}).get('name')}"
        if (api, kind) in CRDS:
            print(f"skipped (CRD) {where}")
            continue
        for version in versions:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                path_in = ".".join(str(p) for p in e.path)
                fail(where, f"Kubernetes {version}: {path_in}: {e.message}")
            except SchemaNotFoundError:
                fail(where, f"no Kubernetes {version} schema for {api} {kind}")
    check_fila(name, objects)
    check_postgres(name, objects)
    print(f"checked {name}: {len(objects)} objects")

if failures:
    print("\n".join(f"FAILED {f}" for f in failures), file=sys.stderr)
    sys.exit(1)
PY

# Compose: the specification's schema (vendored by check-jsonschema), then
# what the schema cannot see.
"$(dirname "$python")/check-jsonschema" --builtin-schema vendor.compose-spec deploy/docker-compose.yml
"$python" - deploy/docker-compose.yml <<'PY'
"""What a compose file needs beyond its schema, for fila's."""
import pathlib
import re
import sys
import tomllib

import yaml

path = pathlib.Path(sys.argv[1])
compose = yaml.safe_load(path.read_text())
services = compose["services"]
volumes = compose.get("volumes") or {}
failures = []
for name, service in services.items():
    for needed in service.get("depends_on") or {}:
        if needed not in services:
            failures.append(f"{name} depends on {needed}, which is no service")
    for mount in service.get("volumes") or []:
        source = mount.split(":")[0]
        if source.startswith("."):
            if not (path.parent / source).exists():
                failures.append(f"{name} mounts {source}, which does not exist")
        elif source not in volumes:
            failures.append(f"{name} mounts the volume {source}, which is not declared")
config = tomllib.loads((path.parent / "compose/fila.toml").read_text())
if config.get("migrate_on_start", True):
    failures.append("compose/fila.toml migrates on start, but the service migrate does")
grace = config.get("worker_shutdown_grace_secs", 30)
stop = re.fullmatch(r"(\d+)s", services["worker"].get("stop_grace_period", "10s"))
if not stop or int(stop.group(1)) <= grace:
    failures.append(f"the workers' stop_grace_period does not exceed {grace} s")
for name in ("api", "worker"):
    condition = services[name]["depends_on"].get("migrate", {}).get("condition")
    if condition != "service_completed_successfully":
        failures.append(f"{name} does not wait for the migrations")
if failures:
    print("\n".join(f"FAILED {path}: {f}" for f in failures), file=sys.stderr)
    sys.exit(1)
print(f"checked {path}: {len(services)} services")
PY
echo "test-manifests: every manifest is valid"
