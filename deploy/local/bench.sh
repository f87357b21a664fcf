#!/usr/bin/env bash
# Runs fila's benchmark (see BENCHMARKS.md) on this machine: PostgreSQL and
# RabbitMQ (installed and started if needed), release builds of fila-api and
# fila-worker, then fila-bench with the arguments given (e.g. --smoke,
# --records 100000, --only taf-e2e, --set taf_chunk_size=250).
set -euo pipefail
cd "$(dirname "$0")/../.."

deploy/local/services.sh
cargo build --release --bins --locked
exec target/release/fila-bench "$@"
