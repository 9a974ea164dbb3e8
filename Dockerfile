# ZenGlow server image: Python 3.11, the package with its embedded models, the web client,
# and (CUDA_LIBS=1, the default) the CUDA 12 cuBLAS and cuDNN 9 libraries that CTranslate2
# needs to run Whisper on a GPU.  The NVIDIA driver comes from the host (NVIDIA Container
# Toolkit); build with `--build-arg CUDA_LIBS=0` for a CPU-only image.

# --- the web client's npm packages (three.js, three-vrm) ------------------------------
FROM node:20-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# --- llama-cpp-python, compiled once (C/C++ toolchain stays in this stage) -------------
FROM python:3.11-slim AS llama
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
RUN pip wheel --no-deps --wheel-dir /wheels "llama-cpp-python>=0.3"

# --- the server ------------------------------------------------------------------------
FROM python:3.11-slim
ARG CUDA_LIBS=1
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    LD_LIBRARY_PATH=/usr/local/lib/python3.11/site-packages/nvidia/cublas/lib:/usr/local/lib/python3.11/site-packages/nvidia/cudnn/lib
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 zenglow
COPY --from=llama /wheels /wheels
RUN pip install /wheels/*.whl \
    && if [ "$CUDA_LIBS" = "1" ]; then pip install nvidia-cublas-cu12 "nvidia-cudnn-cu12==9.*"; fi

WORKDIR /app
COPY pyproject.toml README.md ./
COPY server ./server
# Editable, so the server finds the web client beside its source (/app/web).
RUN pip install -e .
COPY web ./web
COPY --from=web /web/node_modules ./web/node_modules

# The document index's folder (docker-compose.yml mounts a volume there), the user's own.
RUN mkdir -p /var/lib/zenglow/knowledge && chown -R zenglow /var/lib/zenglow
USER zenglow
# Assemble the embedded chat models into the user's cache now (Qwen's SHA-256 checked), not at
# the first start; make the saved conversations' folder (storage.data_dir), so that a volume
# there is the user's.
RUN python -c "from zenglow.engines.bundled import model_path as m; m('qwen2.5-coder-0.5b'); m('gemma3-270m')" \
    && mkdir -p /home/zenglow/.local/share/zenglow

EXPOSE 8000
# Every address of the container: the server refuses to start without an API key
# (ZENGLOW_AUTH__API_KEYS) unless ZENGLOW_AUTH__ALLOW_ANONYMOUS=true is set on purpose.
# SIGTERM drains the sessions (server.drain_s) before it exits.
STOPSIGNAL SIGTERM
CMD ["zenglow", "serve", "--host", "0.0.0.0", "--port", "8000"]
