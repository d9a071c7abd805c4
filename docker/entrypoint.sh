#!/bin/sh
# amqpd container entrypoint (POSIX sh): prepare the data directory, then exec the broker with the
# image's configuration file, so that amqpd is PID 1 and receives docker's SIGTERM itself.
#
#   entrypoint.sh                      -> amqpd --config "$AMQPD_CONFIG_FILE"
#   entrypoint.sh amqpd [ARGS...]      -> amqpd --config "$AMQPD_CONFIG_FILE" ARGS...
#   entrypoint.sh --opt [ARGS...]      -> amqpd --config "$AMQPD_CONFIG_FILE" --opt ARGS...
#   entrypoint.sh CMD [ARGS...]        -> CMD ARGS... (e.g. amqpctl status, sh), as RabbitMQ's image does
#
# Environment:
#   AMQPD_CONFIG_FILE   configuration file (default /etc/amqpd/amqpd.conf); exported, so amqpctl in the
#                       container finds the broker from the same file
#   AMQPD_DATA_DIR      data directory (default /var/lib/amqpd, the image's volume); created if missing
#   RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS / RABBITMQ_DEFAULT_VHOST, AMQPD_BIND, AMQPD_PORT, ...
#                       are read by amqpd itself (see docs/configuration.md)
set -eu

: "${AMQPD_CONFIG_FILE:=/etc/amqpd/amqpd.conf}"
: "${AMQPD_DATA_DIR:=/var/lib/amqpd}"
export AMQPD_CONFIG_FILE AMQPD_DATA_DIR

die() {
    echo "amqpd entrypoint: $*" >&2
    exit 1
}

# The broker runs for: no arguments, "amqpd ...", or options only ("--log-level debug").
broker=0
if [ "$#" -eq 0 ]; then
    broker=1
elif [ "$1" = amqpd ]; then
    shift
    broker=1
else
    case "$1" in
        -*) broker=1 ;;
    esac
fi

if [ "$broker" -eq 0 ]; then
    exec "$@"
fi

[ -r "$AMQPD_CONFIG_FILE" ] || die "configuration file $AMQPD_CONFIG_FILE is missing or not readable"

if [ ! -d "$AMQPD_DATA_DIR" ]; then
    mkdir -p "$AMQPD_DATA_DIR" 2>/dev/null \
        || die "cannot create the data directory $AMQPD_DATA_DIR as uid $(id -u)"
fi
# A bind-mounted host directory is often owned by root: say so instead of a RocksDB error later.
if [ ! -w "$AMQPD_DATA_DIR" ] || [ ! -x "$AMQPD_DATA_DIR" ]; then
    die "the data directory $AMQPD_DATA_DIR is not writable by uid $(id -u) (gid $(id -g));" \
        "chown it to that user or use a named volume"
fi

exec amqpd --config "$AMQPD_CONFIG_FILE" "$@"
