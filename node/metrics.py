"""The node's Prometheus metrics."""

from browserplane.metrics_http import component_registry, metric_kinds

# The node's own registry (what its /metrics serves); the names below declare into it.
REGISTRY = component_registry()
Counter, Gauge, Histogram = metric_kinds(REGISTRY)

CAPACITY = Gauge("browserplane_node_capacity", "Browsers this node may run at once")
FREE_SLOTS = Gauge("browserplane_node_free_slots", "Sessions this node can still take")
WARM_BROWSERS = Gauge("browserplane_node_warm_browsers", "Pre-launched browsers waiting in the pool")
LIVE_SESSIONS = Gauge("browserplane_node_live_sessions", "Sessions with a browser on this node")
LAUNCH_FAILURES = Counter("browserplane_node_browser_launch_failures_total",
                          "Chromium launches that failed")
LAUNCH_SECONDS = Histogram("browserplane_node_browser_launch_seconds",
                           "Time Chromium took to start", ["pool"],
                           buckets=(0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10))
START_SECONDS = Histogram("browserplane_node_start_browser_seconds",
                          "Time StartBrowser took on the node", ["pool"],
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5))
CDP_CONNECTIONS = Gauge("browserplane_node_cdp_connections", "Open CDP client connections")
RELAYED_BYTES = Counter("browserplane_node_relayed_bytes_total", "Bytes spliced by the CDP relay",
                        ["direction"])
