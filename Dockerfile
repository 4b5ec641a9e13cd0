# The prunesearch image: API (`prunesearch serve`), Celery worker (`prunesearch worker`) and
# beat, all from one image; docker-compose.yml picks the command.
#
#   docker build -t prunesearch .
#   docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu124 ...  # CUDA
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# torch first, from PyTorch's CPU wheel index: the plain `torch` requirement of
# pyproject.toml would otherwise resolve to the CUDA build (several GB of libraries a CPU
# worker never loads). The project's own install below then finds torch satisfied.
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"

WORKDIR /app
# Metadata first, sources after: a change to the code does not re-resolve dependencies.
COPY pyproject.toml README.md alembic.ini ./
COPY pruning ./pruning
COPY search ./search
COPY workers ./workers
COPY service ./service
# Alembic's scripts are found beside the source tree (service/db/_migrate.py), hence the
# editable install: `prunesearch migrate` reads /app/migrations.
COPY migrations ./migrations
COPY examples ./examples
RUN pip install -e ".[export]"

# Not root at run time; the artifact store is a volume mounted at /data/artifacts.
RUN useradd --create-home --uid 1000 prunesearch \
    && mkdir -p /data/artifacts \
    && chown -R prunesearch /data
USER prunesearch
ENV PRUNESEARCH_ARTIFACT_DIR=/data/artifacts

EXPOSE 8000
CMD ["prunesearch", "serve", "--host", "0.0.0.0", "--port", "8000"]
