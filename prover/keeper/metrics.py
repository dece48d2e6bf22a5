"""The keeper's Prometheus metrics: what an operator graphs and alerts on.

One registry per keeper (not prometheus-client's global one), so tests and a notebook can
run several keepers in one process; `serve_metrics` exposes it on 127.0.0.1 unless told
otherwise. Counters count requests by what happened to them; a histogram times proofs;
gas is counted per inference settled, earnings in the token's smallest units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

PROOF_BUCKETS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)


@dataclass
class KeeperMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "keeper_requests",
            "Market requests by what the keeper did with them",
            ["event"],  # seen, skipped, locked, fulfilled, failed, expired, lost
            registry=self.registry,
        )
        self.proof_seconds = Histogram(
            "keeper_proof_seconds",
            "Seconds to prove one batch",
            ["model"],
            buckets=PROOF_BUCKETS,
            registry=self.registry,
        )
        self.gas = Counter("keeper_gas", "Gas used by the keeper's transactions", ["kind"], registry=self.registry)
        self.inferences = Counter(
            "keeper_inferences_settled", "Inferences settled by fulfil transactions", registry=self.registry
        )
        self.earnings = Counter(
            "keeper_earnings_units",
            "Prover fees earned, in the token's smallest units",
            ["token"],
            registry=self.registry,
        )

    def count(self, event: str, amount: int = 1) -> None:
        if amount:
            self.requests.labels(event).inc(amount)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A sample's current value (0 if never set): for tests and the summary line."""
        found = self.registry.get_sample_value(name, labels or {})
        return float(found) if found is not None else 0.0

    def gas_per_inference(self) -> float | None:
        settled = self.value("keeper_inferences_settled_total")
        if settled == 0:
            return None
        return self.value("keeper_gas_total", {"kind": "fulfil"}) / settled


def serve_metrics(metrics: KeeperMetrics, port: int, address: str = "127.0.0.1") -> None:
    """Expose the metrics at http://address:port/metrics from a daemon thread."""
    start_http_server(port, addr=address, registry=metrics.registry)
