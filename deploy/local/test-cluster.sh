#!/usr/bin/env bash
# The cluster tests: starts the local cluster (deploy/local/cluster.sh up:
# three RabbitMQ nodes, a PostgreSQL primary with a streaming standby), runs
# every end-to-end test whose name starts with `cluster_` (ignored in the
# main run, since they need the cluster) one at a time, and stops the
# cluster when it ends, whatever happens. Each test leaves the cluster as it
# found it (after a promotion, the old primary is rebuilt as the new one's
# standby). The binaries must be built (cargo build --workspace --bins).
set -euo pipefail
cd "$(dirname "$0")/../.."

started=$SECONDS
trap 'deploy/local/cluster.sh down' EXIT
deploy/local/cluster.sh up
up=$((SECONDS - started))
cargo test -p fila-tests --test e2e --locked cluster_ -- --ignored --test-threads 1 --nocapture
echo "test-cluster: cluster up in ${up} s, tests in $((SECONDS - started - up)) s"
