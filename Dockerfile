# The linguaflow image: the CLI (worker, db migrate, produce, status, ...). Used by docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY linguaflow ./linguaflow
COPY streams ./streams
COPY sinks ./sinks
COPY schemas ./schemas
RUN pip install --no-cache-dir . && useradd --uid 10001 --no-create-home linguaflow
USER linguaflow
ENV LINGUAFLOW_WEB_HOST=0.0.0.0
CMD ["linguaflow", "worker"]
