#!/usr/bin/env bash
# Runs every check and test of fila: formatting, clippy, the dependency
# check (cargo-deny), unit tests, the end-to-end tests, which start the real
# binaries against the real PostgreSQL and RabbitMQ (installed and started
# if needed), the soak run in its short form and the benchmark in its smoke
# size. Each test uses its own schema and queue prefix and removes them when
# it ends.
set -euo pipefail
cd "$(dirname "$0")/../.."

deploy/local/services.sh
E2E_PYTHON=$(deploy/local/test-python.sh)
export E2E_PYTHON
deploy/local/test-browser.sh
export E2E_BROWSER=1
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
deploy/local/deny.sh
# The compose file and the Kubernetes manifests, validated offline (no cluster, no Docker).
deploy/local/test-manifests.sh
# The end-to-end tests start these binaries: build them before the tests.
cargo build --workspace --bins --locked
cargo test --workspace --locked -- --test-threads="${TEST_THREADS:-4}"
# The cluster tests: PostgreSQL failover and RabbitMQ node faults on a local cluster.
deploy/local/test-cluster.sh
# fila's container image, built with podman from deploy/Dockerfile and run
# alone and with deploy/docker-compose.yml.
deploy/local/test-image.sh
# The soak run, one round of every fault (longer: deploy/local/soak.sh ROUNDS).
deploy/local/soak.sh 1
# The benchmark in its smoke size, so that it never rots (figures: BENCHMARKS.md).
target/debug/fila-bench --smoke --json target/bench/smoke.json
