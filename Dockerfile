# The image preview environments run: `envctl server` (charger-server) and `envctl sim`.
# Build: docker build -t ghcr.io/example/envctl:$(git rev-parse --short HEAD) .
FROM python:3.11-slim

# The server's preStop hook drains through the admin API with python's urllib: no curl needed.
RUN useradd --uid 10001 --create-home envctl \
 && mkdir -p /data /status && chown envctl /data /status

WORKDIR /app
COPY pyproject.toml README.md ./
COPY envctl ./envctl
# Editable, so data files beside the code (SQL migrations) are used from /app/envctl as-is.
RUN pip install --no-cache-dir -e /app

USER 10001
ENV PYTHONUNBUFFERED=1
# OCPP websocket and admin HTTP (/healthz, /readyz, /metrics, /admin/*).
EXPOSE 9000 9100
ENTRYPOINT ["envctl"]
CMD ["server", "--host", "0.0.0.0", "--port", "9000", "--admin-port", "9100"]
