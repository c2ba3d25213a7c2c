# The recsys image: the API (`recsys serve`, the default command) and, in docker-compose.yml,
# Airflow (apache-airflow is a dependency of the project, its Celery provider the `celery`
# extra; the DAG tasks import recsys) and the Dask scheduler and workers that train.
#
#   docker build -t recsys:0.1.0 .
#   docker run --rm -p 8000:8000 -v /path/to/data:/data:ro recsys:0.1.0
#
# The data (O*NET, SOC, ESCO, LinkedIn postings) is not in the repository and not in the image:
# mount it read-only at /data (RECSYS_DATA_DIR). Markets, models and the embedded stores go to
# RECSYS_ARTIFACTS_DIR (/var/lib/recsys/artifacts; a volume in docker-compose.yml).
FROM python:3.11-slim

# The CPU build of torch, installed before the project: an unpinned torch pulls a CUDA build of
# several GB. Same spec as the Makefile's TORCH_SPEC.
ARG TORCH_SPEC="torch==2.13.0"
ARG TORCH_INDEX_URL="https://download.pytorch.org/whl/cpu"
# The PostgreSQL driver for Airflow's metadata database (see docker-compose.yml).
ARG PSYCOPG2_SPEC="psycopg2-binary==2.9.13"

# TOKENIZERS_PARALLELISM is a switch, not a secret.
# hadolint ignore=DL3064
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    NUMBA_CACHE_DIR=/home/recsys/.cache/numba \
    RECSYS_DATA_DIR=/data \
    RECSYS_ARTIFACTS_DIR=/var/lib/recsys/artifacts \
    RECSYS_API_HOST=0.0.0.0 \
    RECSYS_API_PORT=8000

# A fixed non-root uid/gid, so that volumes and bind mounts can be given to it.
RUN groupadd --system --gid 10001 recsys \
    && useradd --system --uid 10001 --gid recsys --create-home --home-dir /home/recsys \
        --shell /usr/sbin/nologin recsys

# Pinned through TORCH_SPEC.
# hadolint ignore=DL3013
RUN pip install --index-url "${TORCH_INDEX_URL}" "${TORCH_SPEC}"

WORKDIR /opt/recsys
COPY pyproject.toml README.md ./
COPY recsys ./recsys
COPY feature_store ./feature_store
COPY api ./api
# Not editable: the packages land in site-packages, the source folder stays read-only.
# The project itself; its dependencies are bounded in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install ".[cpu,celery]" "${PSYCOPG2_SPEC}" \
    && python -c "import torch, recsys.settings; assert not torch.version.cuda, torch.__version__"

# Folders that named volumes are mounted on: a new volume takes the ownership of the folder
# it is first mounted on, so the non-root user can write to them.
RUN mkdir -p /data /var/lib/recsys/artifacts /var/lib/airflow /opt/recsys/pipelines/dags \
        /home/recsys/.cache/numba \
    && chown -R recsys:recsys /var/lib/recsys /var/lib/airflow /home/recsys

# Numeric, so that runtimes can tell it is not root without reading /etc/passwd.
USER 10001:10001
EXPOSE 8000

# Liveness: /healthz answers as soon as the process is up (/readyz waits for the models).
# python:3.11-slim has no curl, so the check is Python's urllib.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('RECSYS_API_PORT', '8000'), timeout=4)"]

CMD ["recsys", "serve", "--host", "0.0.0.0"]
