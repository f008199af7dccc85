# The image previews and releases run: `envctl server` (charger-server), `envctl sim`, `envctl gc`.
# Build: docker build -t ghcr.io/example/envctl:$(git rev-parse HEAD) .
# scripts/cluster/images.py builds the same image without Docker (Debian packages + the wheel) for
# the test cluster's node; tests/integration/kubernetes/test_node_images.py holds the two together.
FROM debian:bookworm-slim

# The server's preStop hook drains through the admin API with python's urllib: no curl needed.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/envctl \
 && useradd --uid 10001 --create-home envctl \
 && mkdir -p /data /status && chown envctl /data /status

# envctl/templates is a link to templates/ in the source tree; the wheel carries real files.
COPY pyproject.toml README.md constraints.txt /src/
COPY envctl /src/envctl
COPY templates /src/templates
# constraints.txt: the exact versions CI tested (scripts/lock refreshes it)
RUN /opt/envctl/bin/pip install --no-cache-dir -c /src/constraints.txt /src && rm -rf /src

ENV PATH=/opt/envctl/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1
USER 10001
WORKDIR /home/envctl
# OCPP websocket and admin HTTP (/healthz, /readyz, /metrics, /admin/*).
EXPOSE 9000 9100
ENTRYPOINT ["envctl"]
CMD ["server", "--host", "0.0.0.0", "--port", "9000", "--admin-port", "9100"]
