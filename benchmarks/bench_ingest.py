"""Oracle ingestion through a real Mosquitto: throughput and latency.

Run: `make bench` (or `.venv/bin/python benchmarks/bench_ingest.py`).
Starts a private Mosquitto with the repo's config (config/mosquitto.conf, on
a free port) and a SQLite database, then measures:

  * raw_subscriber_per_s: QoS 1 messages/s a bare paho v2 subscriber receives
    from the same broker and publisher (the peer);
  * readings_per_s: signed readings/s one oracle process verifies and commits
    (acked after commit);
  * p99_latency_ms_at_1000_per_s: publish -> committed at a steady 1,000/s.

Targets (issue 3): >= 5,000 readings/s and >= 0.5 x the raw rate; p99 <= 250 ms.

Raw and oracle runs alternate (raw, oracle, raw, oracle, ...), so that a
machine busy with something else slows both alike; the details keep each
pair's ratio and the oracle's CPU time per reading. The figures file is
merged: keys and details this script does not write (the settlement
benchmark's) stay.
`--no-write` only prints.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt  # noqa: E402
from common import write_results  # noqa: E402

from backend.chain.anvil import free_port  # noqa: E402
from backend.db.migrate import upgrade  # noqa: E402
from backend.db.session import make_engine, session_factory  # noqa: E402
from backend.meters.mqtt import MeterPublisher  # noqa: E402
from backend.meters.simulator import make_meters, payload, topic  # noqa: E402
from backend.oracle.ingest import Ingester  # noqa: E402
from backend.oracle.service import OracleService  # noqa: E402
from backend.oracle.verifier import MeterInfo  # noqa: E402
from backend.protocol.readings import MeterDomain  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DOMAIN = MeterDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
METERS = 200
THROUGHPUT_MESSAGES = 20_000
RUNS = 3


def start_broker(workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    config = (
        (REPO / "config" / "mosquitto.conf")
        .read_text()
        .replace("listener 1883 127.0.0.1", f"listener {port} 127.0.0.1")
    )
    config = config.replace("persistence true", f"persistence true\npersistence_location {workdir}/")
    (workdir / "mosquitto.conf").write_text(config)
    broker = subprocess.Popen(
        [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(workdir / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    return broker, f"mqtt://127.0.0.1:{port}"


def signed_messages(community: str, count: int, start_ts: int) -> tuple[list[tuple[str, bytes]], list]:
    meters = make_meters(METERS, seed=5)
    messages = []
    step = 0
    while len(messages) < count:
        for meter in meters:
            signed = meter.advance(2.0, 3.0, start_ts + step, 1, DOMAIN)
            messages.append((topic(community, meter.meter), payload(signed)))
        step += 1
    return messages[:count], meters


def _publish_all(broker_url: str, messages) -> None:
    publisher = MeterPublisher(broker_url)
    for message_topic, body in messages:
        publisher.publish(message_topic, body)
    publisher.close()


def publish_elsewhere(broker_url: str, messages) -> multiprocessing.Process:
    """Publishes from another process, as meters do: the receiver's numbers are then its own."""
    process = multiprocessing.Process(target=_publish_all, args=(broker_url, messages))
    process.start()
    return process


def raw_subscriber_rate(broker_url: str, messages) -> float:
    port = int(broker_url.rsplit(":", 1)[1])
    received = 0
    done = threading.Event()
    first = [0.0]

    def on_message(client, userdata, message):
        nonlocal received
        if received == 0:
            first[0] = time.perf_counter()
        received += 1
        if received == len(messages):
            done.set()

    subscriber = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="raw-bench", protocol=mqtt.MQTTv5)
    subscriber.on_message = on_message
    subscribed = threading.Event()
    subscriber.on_subscribe = lambda *args: subscribed.set()
    subscriber.connect("127.0.0.1", port)
    subscriber.subscribe("vatio/raw/meters/+/readings", qos=1)
    subscriber.loop_start()
    subscribed.wait(10)
    start = time.perf_counter()
    publisher = publish_elsewhere(broker_url, [(t.replace("/bench/", "/raw/"), b) for t, b in messages])
    done.wait(120)
    elapsed = time.perf_counter() - start
    publisher.join()
    subscriber.loop_stop()
    subscriber.disconnect()
    return received / elapsed


def oracle_service(broker_url: str, workdir: Path, meters, on_committed=None) -> OracleService:
    url = f"sqlite:///{workdir / 'bench.db'}"
    upgrade(url)
    registry = {m.meter: MeterInfo(m.meter, m.household, 20_000, True) for m in meters}
    ingester = Ingester(session_factory(make_engine(url)), DOMAIN, "bench", registry.get)
    service = OracleService(ingester, broker_url, client_id=f"bench-{time.time_ns()}", on_committed=on_committed)
    service.start()
    service.subscribed.wait(10)
    return service


def oracle_rate(broker_url: str, workdir: Path, messages, meters) -> tuple[float, float]:
    """(readings/s, CPU microseconds of this process per reading)."""
    service = oracle_service(broker_url, workdir, meters)
    cpu_start = time.process_time()
    start = time.perf_counter()
    publisher = publish_elsewhere(broker_url, messages)
    deadline = time.monotonic() + 300
    while service.stored + service.rejected < len(messages) and time.monotonic() < deadline:
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    publisher.join()
    stored, rejected = service.stored, service.rejected
    service.stop()
    if rejected or stored < len(messages):
        missing = len(messages) - stored - rejected
        raise RuntimeError(f"{rejected} benchmark readings were rejected, {missing} missing")
    return stored / elapsed, cpu / stored * 1e6


def latency_at(broker_url: str, workdir: Path, rate: int, seconds: int, meters_start_ts: int) -> list[float]:
    messages, meters = signed_messages("bench", rate * seconds, meters_start_ts)
    sent_at: dict[bytes, float] = {}
    latencies: list[float] = []

    def on_committed(batch, outcomes):
        now = time.perf_counter()
        for message in batch:
            if message.payload in sent_at:
                latencies.append((now - sent_at[message.payload]) * 1000)

    service = oracle_service(broker_url, workdir / "latency", meters, on_committed)
    publisher = MeterPublisher(broker_url)
    start = time.perf_counter()
    for index, (message_topic, body) in enumerate(messages):
        due = start + index / rate
        while (remaining := due - time.perf_counter()) > 0:
            time.sleep(min(0.001, remaining))
        sent_at[body] = time.perf_counter()
        publisher.publish(message_topic, body)
    publisher.close()
    deadline = time.monotonic() + 60
    while len(latencies) < len(messages) and time.monotonic() < deadline:
        time.sleep(0.05)
    service.stop()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave the results file alone")
    parser.add_argument("--runs", type=int, default=RUNS, help="raw/oracle pairs (the medians are reported)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="vatio-bench-ingest-"))
    (workdir / "latency").mkdir()
    broker, broker_url = start_broker(workdir)
    raw_runs, oracle_runs, cpu_runs = [], [], []
    try:
        start_ts = int(time.time()) - 7 * 86400
        for run in range(args.runs):
            messages, meters = signed_messages("bench", THROUGHPUT_MESSAGES, start_ts)
            raw_runs.append(raw_subscriber_rate(broker_url, messages))
            run_dir = workdir / f"run{run}"
            run_dir.mkdir()
            rate, cpu_us = oracle_rate(broker_url, run_dir, messages, meters)
            oracle_runs.append(rate)
            cpu_runs.append(cpu_us)
            print(
                f"run {run + 1}: raw {raw_runs[-1]:,.0f} msg/s, oracle {rate:,.0f} readings/s "
                f"({rate / raw_runs[-1]:.2f} x raw, {cpu_us:.0f} us CPU per reading)",
                flush=True,
            )
        latencies = latency_at(broker_url, workdir, rate=1_000, seconds=10, meters_start_ts=start_ts)
    finally:
        broker.terminate()
        broker.wait()
        shutil.rmtree(workdir, ignore_errors=True)

    raw = statistics.median(raw_runs)
    oracle = statistics.median(oracle_runs)
    p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) >= 100 else float("nan")
    print(f"raw paho subscriber: {raw:,.0f} msg/s (median of {len(raw_runs)})")
    print(
        f"oracle (verify + commit + ack, SQLite): {oracle:,.0f} readings/s (median of {len(oracle_runs)}); "
        f"ratio to raw {oracle / raw:.2f}; target >= 5,000/s and >= 0.5"
    )
    print(
        f"latency publish -> committed at 1,000/s: p50 {statistics.median(latencies):.0f} ms, "
        f"p99 {p99:.0f} ms over {len(latencies)} readings; target p99 <= 250 ms"
    )
    figures = {
        "readings_per_s": round(oracle),
        "raw_subscriber_per_s": round(raw),
        "p99_latency_ms_at_1000_per_s": round(p99, 1),
    }
    if args.no_write:
        return
    # merge: the settlement benchmark's figure and details share this file and stay.
    write_results(
        "ingest",
        figures,
        {
            "raw_runs": [round(r) for r in raw_runs],
            "oracle_runs": [round(r) for r in oracle_runs],
            "ratio_runs": [round(o / r, 3) for o, r in zip(oracle_runs, raw_runs, strict=True)],
            "oracle_cpu_us_per_reading": [round(c, 1) for c in cpu_runs],
            "meters": METERS,
            "messages": THROUGHPUT_MESSAGES,
            "latency_samples": len(latencies),
            "latency_p50_ms": round(statistics.median(latencies), 1),
            "database": "sqlite (WAL, synchronous FULL)",
            "cores": os.cpu_count(),
            "order": "raw and oracle runs alternate; figures are medians",
        },
        merge=True,
    )


if __name__ == "__main__":
    main()
