#!/usr/bin/env bash
# Runs fila's benchmark (see BENCHMARKS.md) on this machine: PostgreSQL and
# RabbitMQ (installed and started if needed), release builds of fila-api and
# fila-worker, then fila-bench with the arguments given (e.g. --smoke,
# --records 100000, --only taf-e2e, --set taf_chunk_size=250). With
# --cluster it also starts the local three-node cluster
# (deploy/local/cluster.sh) for the scenario taf-e2e-2w-cluster, and stops
# it afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."

deploy/local/services.sh
cargo build --release --bins --locked
for arg in "$@"; do
  if [ "$arg" = "--cluster" ]; then
    trap 'deploy/local/cluster.sh down' EXIT
    deploy/local/cluster.sh up
  fi
done
target/release/fila-bench "$@"
