#!/bin/bash
# A second, throwaway RabbitMQ 3.10 node (Debian's rabbitmq-server) for suites that create objects named
# after their tests, e.g. AMQPStorm's: AMQP on 127.0.0.8:5672, management API on 127.0.0.8:15672, node
# storm-rabbit@localhost (distribution port 25692), data in $RMQ_DIR. It runs beside the reference broker of
# ../shared/tools/rabbitmq-up.sh (127.0.0.1:5672) and never touches it. Needs root (it runs as rabbitmq).
# Usage: interop/rabbitmq-private.sh [start|stop]
#        AMQP_URL=amqp://guest:guest@127.0.0.8:5672/%2F python interop/run_amqpstorm.py --http-url http://127.0.0.8:15672
set -u
RMQ_DIR=${RMQ_DIR:-/tmp/rmq-private}
ADDR=${RMQ_ADDR:-127.0.0.8}
if [[ ${1:-start} == stop ]]; then
  pid=$(cat "$RMQ_DIR"/mnesia/*.pid 2>/dev/null) && kill "$pid" 2>/dev/null && echo "stopped $pid"
  exit 0
fi
if (echo >/dev/tcp/$ADDR/5672) 2>/dev/null; then echo "something already listens on $ADDR:5672"; exit 0; fi
command -v rabbitmq-server >/dev/null || { echo "rabbitmq-server is not installed"; exit 1; }
rm -rf "$RMQ_DIR"  # a fresh node each time: the suites expect guest alone on "/"
mkdir -p "$RMQ_DIR/mnesia" "$RMQ_DIR/log"
cat >"$RMQ_DIR/rabbitmq.conf" <<CONF
listeners.tcp.default = $ADDR:5672
management.tcp.ip = $ADDR
management.tcp.port = 15672
loopback_users = none
CONF
echo '[rabbitmq_management].' >"$RMQ_DIR/enabled_plugins"
cat >"$RMQ_DIR/start.sh" <<EOF
export RABBITMQ_CONFIG_FILE=$RMQ_DIR/rabbitmq RABBITMQ_MNESIA_BASE=$RMQ_DIR/mnesia RABBITMQ_LOG_BASE=$RMQ_DIR/log \
  RABBITMQ_NODENAME=storm-rabbit@localhost RABBITMQ_NODE_IP_ADDRESS=$ADDR RABBITMQ_NODE_PORT=5672 \
  RABBITMQ_DIST_PORT=25692 ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_ENABLED_PLUGINS_FILE=$RMQ_DIR/enabled_plugins HOME=$RMQ_DIR
exec /usr/lib/rabbitmq/bin/rabbitmq-server
EOF
chmod 755 "$RMQ_DIR/start.sh"
chown -R rabbitmq:rabbitmq "$RMQ_DIR"; chmod 755 "$RMQ_DIR"
setsid su rabbitmq -s /bin/sh -c "$RMQ_DIR/start.sh" >"$RMQ_DIR/server.out" 2>&1 </dev/null &
for _ in $(seq 90); do
  if (echo >/dev/tcp/$ADDR/15672) 2>/dev/null && (echo >/dev/tcp/$ADDR/5672) 2>/dev/null; then
    sleep 1; echo "RabbitMQ up on $ADDR, pid $(cat "$RMQ_DIR"/mnesia/*.pid 2>/dev/null)"; exit 0
  fi
  sleep 1
done
echo "RabbitMQ did not start; see $RMQ_DIR/server.out and $RMQ_DIR/log"; exit 1
