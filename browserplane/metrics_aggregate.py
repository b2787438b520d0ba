"""One `/metrics` for several components: `browserplane up` serves it in front of its processes.

Each scrape reads every component's own `/metrics` and answers their union, every series with a
`component` label, so that the series every process has (process_*, python_*) stay distinct and
a metric's HELP and TYPE appear once. `browserplane_component_up` says which components answered
this scrape: one that did not is missing from the answer, not reported as zeros.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

SCRAPE_TIMEOUT_S = 5


class ComponentsCollector(Collector):
    """Collects `{component: metrics URL}`, each scraped with the same bearer token (if any)."""

    def __init__(self, endpoints: dict[str, str], token: str = "") -> None:
        self.endpoints = endpoints
        self.token = token

    def _scrape(self, url: str) -> str:
        request = urllib.request.Request(url)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=SCRAPE_TIMEOUT_S) as answer:  # noqa: S310 - our own URLs
            return answer.read().decode("utf-8")

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("browserplane_component_up",
                               "1 when the component answered this scrape of its /metrics",
                               labels=["component"])
        merged: dict[str, Metric] = {}
        for component, url in self.endpoints.items():
            try:
                text = self._scrape(url)
            except (OSError, urllib.error.URLError, ValueError):
                up.add_metric([component], 0)
                continue
            up.add_metric([component], 1)
            for family in text_string_to_metric_families(text):
                into = merged.get(family.name)
                if into is None:
                    into = merged[family.name] = Metric(family.name, family.documentation,
                                                        family.type, family.unit)
                for sample in family.samples:
                    into.add_sample(sample.name, {**sample.labels, "component": component},
                                    sample.value, sample.timestamp, sample.exemplar)
        yield up
        yield from merged.values()
