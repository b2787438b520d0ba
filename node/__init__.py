"""The node agent: Chromium processes, the warm pool, the CDP relay, registration and heartbeats."""

import os

# gRPC's fork handlers are not needed (browsers exec at once) and log noise when they skip.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
