#!/usr/bin/env bash
# Makes sure PostgreSQL and RabbitMQ run on this (Debian) machine for a local
# fila: installs them with apt when absent, starts them when stopped, lets
# the local `postgres` user in over 127.0.0.1 without a password (as fila's
# local configuration expects), enables RabbitMQ's management API, and waits
# until they answer.
set -euo pipefail

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_port() {
  local name=$1 port=$2
  for _ in $(seq 1 120); do
    port_open "$port" && return 0
    sleep 0.5
  done
  echo "services: $name does not answer on 127.0.0.1:$port" >&2
  exit 1
}

missing=()
command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
command -v rabbitmq-server >/dev/null 2>&1 || missing+=(rabbitmq-server)
if [ ${#missing[@]} -gt 0 ]; then
  echo "services: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

if ! port_open 5432; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "services: starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi
wait_port PostgreSQL 5432

if ! psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  echo "services: trusting local TCP connections of user postgres in $hba"
  as_root sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  sleep 1
fi

if ! port_open 5672; then
  echo "services: starting RabbitMQ"
  as_root rabbitmq-server -detached
fi
wait_port RabbitMQ 5672

# The management API gives the queues' publish and deliver rates
# (amqp_management_url).
if ! port_open 15672; then
  echo "services: enabling RabbitMQ's management plugin"
  as_root rabbitmq-plugins enable --quiet rabbitmq_management
fi
wait_port "RabbitMQ management" 15672
