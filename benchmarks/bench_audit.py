"""`vatio audit` against a plain web3.py script that reads the events once, on a demo-like chain.

Run: `make bench` (or `.venv/bin/python benchmarks/bench_audit.py [--quick]`). Builds a chain
with benchmarks/audit_chain.py: the demo's 20 households, meters and auto orders, a resting
order every 4 intervals, `--intervals` intervals (default 500, the issue's "demo's first 500
intervals"; `--quick`: 100) settled by the real oracle pipeline with their archive, on an Anvil
that prunes old states as the demo's does. Then, interleaved `--repeats` times on that chain:

  * the peer (benchmarks/audit_peer.py): every event the audit reads, fetched once with
    web3.py's get_logs in block windows, decoded, nothing checked;
  * `vatio audit` (the click command, in process) over every settled interval: it must
    report them all OK.

Target (issue 16): audit median <= 1.2 x the peer's median. Writes benchmarks/results/audit.json.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit_chain import build_chain  # noqa: E402
from audit_peer import read_events  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from common import write_results  # noqa: E402
from web3 import Web3  # noqa: E402

from backend.audit.cli import audit  # noqa: E402

TARGET_RATIO = 1.2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intervals", type=int, default=500, help="settled intervals on the chain")
    parser.add_argument("--quick", action="store_true", help="100 intervals (building 500 takes many minutes)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs of each; medians are reported")
    arguments = parser.parse_args()
    intervals = 100 if arguments.quick else arguments.intervals

    folder = Path(tempfile.mkdtemp(prefix="vatio-bench-audit-"))
    try:
        started = time.perf_counter()
        print(f"building a chain with {intervals} settled intervals in {folder} ...")
        chain = build_chain(folder, intervals)
        build_s = time.perf_counter() - started
        print(f"built in {build_s:.0f} s: {chain.orders} resting orders, {chain.node.url}")
        web3 = Web3(Web3.HTTPProvider(chain.node.url, request_kwargs={"timeout": 120}))
        command = [
            "--rpc-url",
            chain.node.url,
            "--archive",
            str(chain.archive_dir),
            "--deployment",
            str(chain.deployment_path),
        ]
        peer_s, audit_s, load = [], [], []
        for run in range(arguments.repeats):  # interleaved, so a noisy spell hits both alike
            load.append(os.getloadavg()[0])  # the machine is shared: say how busy it was
            begin = time.perf_counter()
            counts = read_events(web3, chain.deployment)
            peer_s.append(time.perf_counter() - begin)
            begin = time.perf_counter()
            result = CliRunner().invoke(audit, command)
            audit_s.append(time.perf_counter() - begin)
            summary = re.search(r"audited (\d+) intervals: (\d+) OK", result.output)
            if result.exit_code != 0 or not summary or int(summary.group(2)) != chain.intervals:
                raise SystemExit(f"the audit did not pass every interval:\n{result.output[-3000:]}")
            print(
                f"  run {run + 1}: peer {peer_s[-1]:.2f} s ({sum(counts.values())} logs), audit {audit_s[-1]:.2f} s, "
                f"load {load[-1]:.1f} on {os.cpu_count()} CPUs"
            )
        node_head = web3.eth.block_number
        chain.node.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    peer, audited = statistics.median(peer_s), statistics.median(audit_s)
    ratio = audited / peer
    print(f"audit {audited:.2f} s, events-only peer {peer:.2f} s: {ratio:.2f} x (target <= {TARGET_RATIO})")
    write_results(
        "audit",
        {
            "audit_s_median": round(audited, 3),
            "peer_events_only_s_median": round(peer, 3),
            "audit_to_peer_ratio": round(ratio, 3),
            "target_ratio": TARGET_RATIO,
            "intervals": chain.intervals,
            "households": chain.households,
        },
        {
            "command": "benchmarks/bench_audit.py" + (" --quick" if arguments.quick else f" --intervals {intervals}"),
            "quick": arguments.quick,
            "resting_orders": chain.orders,
            "blocks": node_head,
            "logs_read_by_peer": sum(counts.values()),
            "repeats": arguments.repeats,
            "audit_s_runs": [round(s, 3) for s in audit_s],
            "peer_s_runs": [round(s, 3) for s in peer_s],
            "load_avg_1min_at_runs": [round(value, 1) for value in load],
            "cpus": os.cpu_count(),
            "chain_build_s": round(build_s, 1),
            "setup": "Anvil with --prune-history as the demo's (old states gone: the solver's inputs are "
            "replayed from events), the real oracle pipeline in process (Ingester into SQLite, Settler), "
            "3 signed readings per meter per interval; both measured in one process, interleaved",
        },
    )


if __name__ == "__main__":
    main()
