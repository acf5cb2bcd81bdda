# The linguaflow image: the worker extra and the CLI (worker, sink, db migrate, produce, status, ...).
# Used by docker-compose.yml. Runs as a non-root user; data (faust's, the disk cache) goes to
# /var/lib/linguaflow.
FROM python:3.11-slim
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY linguaflow ./linguaflow
COPY streams ./streams
COPY sinks ./sinks
COPY schemas ./schemas
RUN pip install --no-cache-dir '.[worker,google]' \
    && useradd --uid 10001 --no-create-home linguaflow \
    && mkdir -p /var/lib/linguaflow && chown linguaflow /var/lib/linguaflow \
    && rm -rf /src
WORKDIR /var/lib/linguaflow
USER linguaflow
ENV LINGUAFLOW_WEB_HOST=0.0.0.0 \
    LINGUAFLOW_LOCAL_DIR=/var/lib/linguaflow
CMD ["linguaflow", "worker"]
