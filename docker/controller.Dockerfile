# The llmstack controller image (images.CONTROLLER, ghcr.io/pulumi-llmstack/llmstack:<version>):
# `llmstack controller` with git for the GitOps path. Runs as UID 10001 with a read-only root
# filesystem (the Kubernetes target mounts /tmp, the spec and the audit claim).
#   docker build -f docker/controller.Dockerfile -t ghcr.io/pulumi-llmstack/llmstack:0.1.0 .
FROM python:3.12-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md /src/
COPY llmstack /src/llmstack
RUN pip install --no-cache-dir /src && rm -rf /src
USER 10001:10001
ENTRYPOINT ["llmstack"]
CMD ["controller", "--help"]
