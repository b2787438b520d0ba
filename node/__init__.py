"""The node agent: Chromium processes, the warm pool, the CDP relay, registration and heartbeats."""
