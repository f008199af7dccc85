# The image preview environments run: `envctl server` (charger-server) and `envctl sim`.
# Build: docker build -t ghcr.io/example/envctl:$(git rev-parse --short HEAD) .
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY envctl ./envctl
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
# The server's preStop hook drains through the admin API with python's urllib: no curl needed.
RUN useradd --uid 10001 --create-home envctl \
 && mkdir -p /data /status && chown envctl /data /status
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER 10001
ENV PYTHONUNBUFFERED=1
# OCPP websocket and admin HTTP (/healthz, /readyz, /metrics, /admin/*).
EXPOSE 9000 9100
ENTRYPOINT ["envctl"]
CMD ["server", "--host", "0.0.0.0", "--port", "9000", "--admin-port", "9100"]
