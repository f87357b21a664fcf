#!/usr/bin/env bash
# Runs fila on this machine: PostgreSQL and RabbitMQ (installed and started
# if needed), then fila-api on http://127.0.0.1:8080 and WORKERS workers
# (default 2), with deploy/local/fila.toml. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/../.."

deploy/local/services.sh
cargo build --release --bins

export FILA_CONFIG="${FILA_CONFIG:-deploy/local/fila.toml}"
target/release/fila-api migrate

trap 'kill 0' EXIT INT TERM
# Each worker serves its metrics on its own port: 9464, 9465, ...
for i in $(seq 1 "${WORKERS:-2}"); do
  FILA_WORKER_METRICS_ADDR="127.0.0.1:$((9463 + i))" target/release/fila-worker &
done
target/release/fila-api
