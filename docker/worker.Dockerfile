# A GPU worker: one container per GPU (a solo-pool Celery process; CUDA and fork don't mix).
# PyPI's Linux torch wheels carry their CUDA libraries; the host needs the NVIDIA driver and
# the NVIDIA Container Toolkit.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    REPROGRAM_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY reprogramming ./reprogramming
COPY reprogram ./reprogram
COPY api ./api
COPY worker ./worker
COPY db ./db
COPY services ./services
COPY storage ./storage
COPY messaging ./messaging
COPY config ./config
COPY migrations ./migrations
RUN pip install ".[server]"

RUN useradd --create-home reprogram && mkdir -p /data && chown reprogram /data
USER reprogram
VOLUME ["/data"]
CMD ["reprogram", "worker", "--hostname", "gpu@%h"]
