"""Prometheus metrics for `/metrics`: per persona, endpoint and GPU, and the document index.

One `Metrics` per process (it lives on `Engines`), each with its own registry so that several
apps in one process (tests) do not collide.  GPU figures come from NVML when the
`nvidia-ml-py` package and a driver are present; otherwise those series are simply absent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

STAGES = (
    "endpoint",
    "stt",
    "llm_first_token",
    "first_sentence",
    "tts_first_audio",
    "first_audio_sent",
    "voice_to_voice",
)
_LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.turn_stage_seconds = Histogram(
            "zenglow_turn_stage_seconds",
            "Latency of each stage of a turn",
            ["persona", "stage"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.turns_total = Counter(
            "zenglow_turns_total", "Replies by final status", ["persona", "status"], registry=r
        )
        self.time_to_first_token_seconds = Histogram(
            "zenglow_llm_time_to_first_token_seconds",
            "Chat request to first token",
            ["persona", "endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens_per_second = Histogram(
            "zenglow_llm_tokens_per_second",
            "Generation speed after the first token",
            ["persona", "endpoint"],
            buckets=(5, 10, 20, 40, 60, 100, 150, 250, 500),
            registry=r,
        )
        self.in_flight = Gauge(
            "zenglow_llm_in_flight", "Chat requests running", ["persona", "endpoint"], registry=r
        )
        self.queue_depth = Gauge(
            "zenglow_llm_queue_depth",
            "Chat requests waiting for a slot",
            ["persona", "endpoint"],
            registry=r,
        )
        self.endpoint_up = Gauge(
            "zenglow_llm_endpoint_up",
            "1 while an endpoint is healthy, 0 while marked down",
            ["persona", "endpoint"],
            registry=r,
        )
        self.failures_total = Counter(
            "zenglow_llm_failures_total",
            "Chat requests that failed",
            ["persona", "endpoint", "kind"],
            registry=r,
        )
        self.failovers_total = Counter(
            "zenglow_llm_failovers_total",
            "Turns moved to another endpoint or persona",
            ["persona", "from_endpoint", "to_endpoint"],
            registry=r,
        )
        self.escalations_total = Counter(
            "zenglow_escalations_total",
            "Turns handed from one persona to another",
            ["from_persona", "to_persona", "reason"],
            registry=r,
        )
        self.sessions = Gauge("zenglow_sessions_open", "Realtime sessions open", registry=r)
        self.open_sessions = 0  # the same, for the engines (see `set_sessions`)
        self.sessions_total = Counter(
            "zenglow_sessions_total", "Realtime sessions opened", registry=r
        )
        self.sessions_refused_total = Counter(
            "zenglow_sessions_refused_total", "Sessions refused at the cap", registry=r
        )
        self.refusals_total = Counter(
            "zenglow_refusals_total",
            "Requests and client events refused at the door or past a budget, by error code",
            ["where", "code"],  # where: http, websocket (handshakes), events (in a session)
            registry=r,
        )
        self.speech_over_reply_total = Counter(
            "zenglow_speech_over_reply_total",
            "Speech heard over a reply, by what it was",
            ["outcome"],  # interruption, backchannel, echo
            registry=r,
        )
        self.input_dropped_seconds_total = Counter(
            "zenglow_input_dropped_seconds_total",
            "Mic audio dropped by flood control",
            registry=r,
        )
        self.knowledge_search_seconds = Histogram(
            "zenglow_knowledge_search_seconds",
            "Document search: question in, passages out (the question's embedding included)",
            buckets=(0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0),
            registry=r,
        )
        self.knowledge_documents = Gauge(
            "zenglow_knowledge_documents", "Documents in the index", registry=r
        )
        self.knowledge_chunks = Gauge(
            "zenglow_knowledge_chunks", "Passages (chunks) in the index", registry=r
        )
        self.embed_seconds = Histogram(
            "zenglow_embed_request_seconds",
            "One embedding request (a question, or a batch of passages)",
            ["endpoint"],
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
            registry=r,
        )
        self.storage_persisting = Gauge(
            "zenglow_storage_persisting",
            "1 while conversations are being saved, 0 while writes fail",
            registry=r,
        )
        self.storage_persisting.set(1)
        self.storage_writes_total = Counter(
            "zenglow_storage_writes_total", "Conversation store writes", ["result"], registry=r
        )
        self.storage_write_seconds = Histogram(
            "zenglow_storage_write_seconds",
            "One conversation store write, committed",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0),
            registry=r,
        )
        r.register(GpuCollector())

    def set_sessions(self, n: int) -> None:
        """Sessions open now: the gauge, and the count the embedded chat model asks (with
        others open it shares the cores even for a reply's first chunk)."""
        self.sessions.set(n)
        self.open_sessions = n

    def observe_store_write(self, seconds: float, ok: bool) -> None:
        self.storage_writes_total.labels("ok" if ok else "failed").inc()
        if ok:
            self.storage_write_seconds.observe(seconds)

    def observe_turn(
        self, persona: str, status: str, metrics_ms: Mapping[str, float | None]
    ) -> None:
        """Record one finished reply and the stages of `zenglow.turn_metrics`."""
        self.turns_total.labels(persona, status).inc()
        for stage in STAGES:
            value = metrics_ms.get(f"{stage}_ms")
            if value is not None and value >= 0:
                self.turn_stage_seconds.labels(persona, stage).observe(value / 1000.0)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class GpuCollector(Collector):
    """GPU memory and utilisation per device, read through NVML at scrape time."""

    def __init__(self) -> None:
        self._nvml = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
        except Exception as exc:  # no package, no driver, no GPU: no GPU series
            log.debug("NVML unavailable: %s", exc)

    @property
    def available(self) -> bool:
        return self._nvml is not None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        nv = self._nvml
        if nv is None:
            return
        used = GaugeMetricFamily("zenglow_gpu_memory_used_bytes", "GPU memory used", labels=["gpu"])
        total = GaugeMetricFamily("zenglow_gpu_memory_total_bytes", "GPU memory", labels=["gpu"])
        util = GaugeMetricFamily("zenglow_gpu_utilization_ratio", "GPU busy ratio", labels=["gpu"])
        try:
            for i in range(nv.nvmlDeviceGetCount()):
                h = nv.nvmlDeviceGetHandleByIndex(i)
                mem = nv.nvmlDeviceGetMemoryInfo(h)
                rates = nv.nvmlDeviceGetUtilizationRates(h)
                used.add_metric([str(i)], float(mem.used))
                total.add_metric([str(i)], float(mem.total))
                util.add_metric([str(i)], rates.gpu / 100.0)
        except nv.NVMLError as exc:
            log.warning("NVML read failed: %s", exc)
            return
        yield from (used, total, util)
