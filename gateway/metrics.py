"""The gateway's Prometheus metrics."""

from browserplane.metrics_http import component_registry, metric_kinds

# The gateway's own registry (what its /metrics serves); the names below declare into it.
REGISTRY = component_registry()
Counter, Gauge, Histogram = metric_kinds(REGISTRY)

REQUESTS = Counter("browserplane_gateway_requests_total", "HTTP requests",
                   ["dialect", "route", "status"])
LATENCY = Histogram("browserplane_gateway_request_seconds", "HTTP request latency",
                    ["dialect", "route"],
                    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
CDP_CONNECTIONS = Gauge("browserplane_gateway_cdp_connections", "Open CDP connections")
RELAYED_BYTES = Counter("browserplane_gateway_relayed_bytes_total", "Bytes spliced by the CDP endpoint",
                        ["direction"])
