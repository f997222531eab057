#!/usr/bin/env bash
# make kind-e2e: a real cluster with kind (needs Docker, kind, kubectl, helm, node):
# create the cluster, build and load the image, install the chart and an ImCluster, run a chat
# smoke test through the SDK, delete the cluster. KEEP_CLUSTER=1 keeps it for inspection.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLUSTER="${CLUSTER:-imcloud-e2e}"
IMAGE="${IMAGE:-imcloud:e2e}"
NAMESPACE="${NAMESPACE:-imcloud-e2e}"
TIMEOUT="${TIMEOUT:-600s}"
KEEP_CLUSTER="${KEEP_CLUSTER:-0}"
PIDS=()

log() { printf '\n==> %s\n' "$*" >&2; }

need() {
  local missing=()
  for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
  if ((${#missing[@]})); then
    echo "kind-e2e needs: ${missing[*]} (and a running Docker engine)" >&2
    exit 2
  fi
}

cleanup() {
  local status=$?
  for pid in "${PIDS[@]:-}"; do
    if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; fi
  done
  if ((status != 0)); then
    log "failed: state of the cluster"
    kubectl get imc,deploy,sts,pods -n "$NAMESPACE" -o wide || true
    kubectl describe imc -n "$NAMESPACE" || true
    kubectl logs -n imcloud-system deploy/imcloud-operator --tail=100 || true
  fi
  if [[ "$KEEP_CLUSTER" != 1 ]]; then
    log "deleting kind cluster $CLUSTER"
    kind delete cluster --name "$CLUSTER" || true
  fi
  exit "$status"
}

port_forward() { # port_forward <resource> <local>:<remote>
  kubectl port-forward -n "$NAMESPACE" "$1" "$2" >/dev/null 2>&1 &
  PIDS+=("$!")
}

need docker kind kubectl helm node
docker info >/dev/null 2>&1 || { echo "kind-e2e: the Docker engine is not reachable" >&2; exit 2; }
trap cleanup EXIT

log "creating kind cluster $CLUSTER"
kind create cluster --name "$CLUSTER" --config "$ROOT/hack/kind/kind-config.yaml" --wait 180s

log "building $IMAGE"
docker build -t "$IMAGE" "$ROOT"
kind load docker-image "$IMAGE" --name "$CLUSTER"

log "installing the chart"
helm install imcloud "$ROOT/charts/imcloud" -n imcloud-system --create-namespace \
  --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" --set image.pullPolicy=Never \
  --set tests.image="$IMAGE" --wait --timeout "$TIMEOUT"
helm test imcloud -n imcloud-system --timeout 120s

log "creating ImCluster chat"
kubectl create namespace "$NAMESPACE"
sed -e "s|image: imcloud$|image: ${IMAGE%:*}|" -e "s|version: e2e$|version: ${IMAGE##*:}|" "$ROOT/hack/kind/imcluster.yaml" \
  | kubectl apply -n "$NAMESPACE" -f -
kubectl wait -n "$NAMESPACE" imc/chat --for=jsonpath='{.status.phase}'=Ready --timeout="$TIMEOUT"
kubectl get imc -n "$NAMESPACE"

log "chat smoke test through the SDK"
port_forward svc/chat-dispatch 18080:8080
port_forward svc/chat-admin 18081:9090
port_forward svc/chat-gate-main 18090:8080
port_forward svc/chat-gate-smoke 18091:8080
ADMIN_TOKEN="$(kubectl get secret -n "$NAMESPACE" chat-admin-token -o jsonpath='{.data.token}' | base64 -d)"
sleep 3
(cd "$ROOT" && IMCLOUD_SMOKE_DISPATCH=http://127.0.0.1:18080 IMCLOUD_SMOKE_ADMIN=http://127.0.0.1:18081 \
  IMCLOUD_SMOKE_ADMIN_TOKEN="$ADMIN_TOKEN" npx tsx hack/kind/smoke.ts)

log "kind-e2e passed"
