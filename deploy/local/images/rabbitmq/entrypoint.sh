#!/bin/sh
# Writes the default user (used when the node starts with an empty data
# directory, as in the official image) into RabbitMQ's configuration, then
# runs the command as the user rabbitmq.
set -eu
cat >/etc/rabbitmq/rabbitmq.conf <<CONF
default_user = ${RABBITMQ_DEFAULT_USER:-guest}
default_pass = ${RABBITMQ_DEFAULT_PASS:-guest}
loopback_users = none
listeners.tcp.default = 5672
management.tcp.port = 15672
CONF
chown -R rabbitmq:rabbitmq /var/lib/rabbitmq
if [ "$1" = rabbitmq-server ]; then
  export HOME=/var/lib/rabbitmq
  exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups /usr/lib/rabbitmq/bin/rabbitmq-server
fi
exec "$@"
