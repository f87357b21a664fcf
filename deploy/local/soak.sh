#!/usr/bin/env bash
# The soak run: TAF lots, EAI messages and process runs posted without a
# pause while a worker is killed, the broker cut, the database cut, the API
# killed, the work queues purged, the database black-holed and the broker's
# memory alarm raised, in turn; prints the counts (accepted, finished, lost,
# stranded, duplicated, result deliveries) and fails unless every accepted
# item finished exactly once. Each round lasts about 100 s plus the time to
# drain; CI runs one round.
#
#   deploy/local/soak.sh [ROUNDS]
#
# Expects the services running and the binaries built (deploy/local/test.sh
# does both before calling it).
set -euo pipefail
cd "$(dirname "$0")/../.."

FILA_SOAK_ROUNDS="${1:-1}" exec cargo test --workspace --locked --test e2e -- \
  --ignored --exact soak::soak_with_every_fault_in_turn_loses_and_repeats_nothing --nocapture
