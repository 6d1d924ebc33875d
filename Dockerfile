# The tectum pipeline's command line in a container: `docker compose up --scale worker=4`
# runs four `tectum worker` services against the compose file's database (see docs/operations.md).
FROM python:3.11-slim

# no .pyc files in the image; output reaches `docker compose logs` at once
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /opt/tectum
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY schemas ./schemas
COPY tectum ./tectum
RUN pip install ".[postgres,s3]"

# not root: a worker only needs its database account and the object store
RUN useradd --create-home tectum
USER tectum
WORKDIR /home/tectum

# exec form: tectum is PID 1 and receives docker's SIGTERM itself, so `docker stop` rolls back the
# make in progress and re-queues its key (the default 10 s grace period is plenty for that)
ENTRYPOINT ["tectum"]
CMD ["--help"]
