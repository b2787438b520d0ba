"""The control plane's Prometheus metrics."""

from browserplane.metrics_http import component_registry, metric_kinds

# The control plane's own registry (what its /metrics serves); the names below declare into it.
REGISTRY = component_registry()
Counter, Gauge, Histogram = metric_kinds(REGISTRY)

SESSIONS = Gauge("browserplane_sessions", "Live sessions by state", ["state"])
SESSIONS_ENDED = Counter("browserplane_sessions_ended_total", "Sessions that ended",
                         ["state", "cause"])
CREATE_SECONDS = Histogram(
    "browserplane_create_session_seconds", "CreateSession latency on the control plane", ["pool"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3, 0.5, 1, 2, 5, 10, 30))
QUEUE_DEPTH = Gauge("browserplane_queue_depth", "Create requests waiting for a free slot")
NODE_CAPACITY = Gauge("browserplane_node_capacity_total", "Node capacity", ["node"])
NODE_FREE = Gauge("browserplane_node_free_slots_total", "Free slots per node", ["node"])
NODE_UP = Gauge("browserplane_node_up", "1 while a node holds its lease", ["node"])
LAUNCH_FAILURES = Counter("browserplane_browser_launch_failures_total",
                          "Sessions whose browser failed to start", ["node"])
REJECTED = Counter("browserplane_create_rejected_total", "Create requests refused", ["reason"])
# The node autoscaler (controlplane/node_autoscaler.py) and the KEDA scaler's demand figure.
AUTOSCALER_TARGET = Gauge("browserplane_node_autoscaler_target_replicas",
                          "Node replicas the autoscaler wants now (demand, clamped to min/max)")
AUTOSCALER_REPLICAS = Gauge("browserplane_node_autoscaler_replicas",
                            "Replicas of the node Deployment, as last read or set")
AUTOSCALER_DEMAND = Gauge("browserplane_node_autoscaler_demand_sessions",
                          "Browsers wanted: placed and queued sessions plus one warm pool")
AUTOSCALER_DECISIONS = Counter("browserplane_node_autoscaler_decisions_total",
                               "Changes of the node Deployment's replicas", ["direction", "reason"])
AUTOSCALER_API_ERRORS = Counter("browserplane_node_autoscaler_api_errors_total",
                                "Kubernetes API calls that failed (retried later)", ["kind"])
