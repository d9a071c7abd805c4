# amqpd: a RabbitMQ-compatible AMQP 0-9-1 broker. See docs/container.md.
#
#   docker build -t amqpd .
#   docker run -d --name amqpd -p 5672:5672 -p 15672:15672 -p 15692:15692 \
#       -e RABBITMQ_DEFAULT_USER=app -e RABBITMQ_DEFAULT_PASS=secret -v amqpd-data:/var/lib/amqpd amqpd

ARG PYTHON_IMAGE=python:3.11-slim

# -- build: install the package and its dependencies (all have wheels) into a virtualenv -------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/amqpd
WORKDIR /src
COPY pyproject.toml README.md ./
COPY amqpd ./amqpd
RUN /opt/amqpd/bin/pip install . \
    && /opt/amqpd/bin/amqpd --help >/dev/null \
    && test -x /opt/amqpd/bin/amqpctl

# -- runtime -------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="amqpd" \
      org.opencontainers.image.description="A RabbitMQ-compatible AMQP 0-9-1 message broker in Python" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed uid/gid (999, as RabbitMQ's image) so a bind-mounted data directory can be chowned ahead.
RUN groupadd --system --gid 999 amqpd \
    && useradd --system --uid 999 --gid amqpd --home-dir /var/lib/amqpd --no-create-home \
        --shell /usr/sbin/nologin amqpd \
    && mkdir -p /var/lib/amqpd /run/amqpd /etc/amqpd \
    && chown amqpd:amqpd /var/lib/amqpd /run/amqpd \
    && chmod 0750 /var/lib/amqpd \
    && chmod 0700 /run/amqpd

COPY --from=build /opt/amqpd /opt/amqpd
COPY docker/amqpd.conf /etc/amqpd/amqpd.conf
COPY docker/entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 0644 /etc/amqpd/amqpd.conf && chmod 0755 /usr/local/bin/docker-entrypoint.sh

# AMQPD_CONFIG_FILE: amqpd, the entrypoint and amqpctl (health check, docker exec) all use this file;
# amqpctl finds the running broker from it. AMQPD_RUNTIME_DIR holds amqpctl's control socket, at a
# fixed place so `docker exec -u root ... amqpctl` finds it too.
ENV PATH=/opt/amqpd/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    AMQPD_CONFIG_FILE=/etc/amqpd/amqpd.conf \
    AMQPD_DATA_DIR=/var/lib/amqpd \
    AMQPD_RUNTIME_DIR=/run/amqpd

USER amqpd:amqpd
WORKDIR /var/lib/amqpd
VOLUME ["/var/lib/amqpd"]

# AMQP, management HTTP API and web UI, Prometheus metrics
EXPOSE 5672 15672 15692

# amqpctl answers only once every listener is bound and the definitions are loaded.
HEALTHCHECK --interval=10s --timeout=10s --start-period=30s --retries=3 \
    CMD ["amqpctl", "-q", "ping"]

# amqpd handles SIGTERM: it closes every connection with 320 CONNECTION_FORCED and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["amqpd"]
