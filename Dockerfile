# One image for every component; the command picks it:
#   browserplane controlplane | node | gateway
# Runs as the unprivileged user `browserplane` (uid 10001) by default, which is what the control
# plane and the gateway need. The node's tenant isolation (a uid per browser, bubblewrap views,
# cgroup limits, iptables egress rules for the browsers' uids) needs root and the privileges listed
# in docs/deploy.md; k8s/base/node.yaml runs it with `runAsUser: 0` and that securityContext.
FROM debian:bookworm-slim

# Debian's Chromium and what the node's sandbox calls (scripts/bootstrap installs the same set).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      chromium fonts-liberation ca-certificates \
      util-linux bubblewrap iptables iproute2 \
      python3 python3-venv \
      nodejs npm \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/browserplane
# A venv of its own: bookworm's system Python refuses pip installs (PEP 668).
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BROWSERPLANE_NODE_CHROMIUM=/usr/lib/chromium/chromium

# rrweb for recorded sessions' pages, from the lockfile (node/dom_recording.py reads node/js).
COPY node/js/package.json node/js/package-lock.json node/js/
RUN cd node/js && npm ci --omit=dev --no-audit --no-fund --loglevel=error \
 && npm cache clean --force

COPY pyproject.toml README.md ./
COPY browserplane browserplane
COPY browserplane_cli browserplane_cli
COPY controlplane controlplane
COPY node node
COPY gateway gateway
COPY modelserver modelserver
# Editable install: node/js/node_modules is found next to the node package, as in a checkout.
RUN pip install --no-cache-dir -e . \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/browserplane browserplane \
 && mkdir -p /var/lib/browserplane \
 && chown browserplane:browserplane /var/lib/browserplane

USER 10001
ENV HOME=/var/lib/browserplane
ENTRYPOINT ["browserplane"]
CMD ["--help"]
