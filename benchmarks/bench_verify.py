"""EIP-712 meter-reading signature recoveries per second, one Python thread.

Run: `.venv/bin/python benchmarks/bench_verify.py [--runs N]`.
Compares eth-account's generic path (encode_typed_data + Account.recover_message),
the oracle's fast path (`recover_signer`: hand-packed digest + coincurve +
address), and bare coincurve recovery of a precomputed digest (the ceiling).
The machine is noisy: each path runs several times, interleaved, and the
median rate is reported. DESIGN.md saw about 1,450/s, 7,000/s and 14,000/s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coincurve import PrivateKey, PublicKey  # noqa: E402
from common import write_results  # noqa: E402
from eth_account import Account  # noqa: E402
from eth_account.messages import encode_typed_data  # noqa: E402

from backend.protocol.parser import parse_reading  # noqa: E402
from backend.protocol.readings import (  # noqa: E402
    MeterDomain,
    MeterReading,
    reading_digest,
    recover_signer,
    sign_reading,
    typed_data,
)

DOMAIN = MeterDomain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
METERS = 50


def signed_readings(count: int) -> list:
    keys = [PrivateKey(bytes([index + 1]) * 32) for index in range(METERS)]
    signed = []
    for index in range(count):
        key = keys[index % METERS]
        meter = Account.from_key(key.secret).address
        reading = MeterReading(meter, index, 1_764_000_000 + index, 10_000 + index, 5_000 + 2 * index, index % 5_000)
        signed.append(sign_reading(reading, DOMAIN, key.secret))
    return signed


def payload_of(signed) -> bytes:
    reading = signed.reading
    return (
        f'{{"meter":"{reading.meter}","seq":{reading.seq},"ts":{reading.ts},"producedWh":{reading.produced_wh},'
        f'"consumedWh":{reading.consumed_wh},"powerW":{reading.power_w},"signature":"0x{signed.signature.hex()}"}}'
    ).encode()


def rate(function, items) -> float:
    start = time.perf_counter()
    for item in items:
        function(item)
    return len(items) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per path; the median is reported")
    parser.add_argument("--count", type=int, default=3_000, help="recoveries per run (eth-account gets a third)")
    arguments = parser.parse_args()

    signed = signed_readings(arguments.count)
    generic_inputs = [(typed_data(item.reading, DOMAIN), item.signature) for item in signed[: arguments.count // 3]]
    bare_inputs = [
        (item.signature[:64] + bytes((item.signature[64] - 27,)), reading_digest(item.reading, DOMAIN))
        for item in signed
    ]
    payloads = [payload_of(item) for item in signed]

    # Every path must agree before it is timed.
    for item, (message, signature), (signature_recid, digest) in zip(signed, generic_inputs, bare_inputs, strict=True):
        meter = item.reading.meter
        assert Account.recover_message(encode_typed_data(full_message=message), signature=signature) == meter
        assert recover_signer(item, DOMAIN) == meter
        assert PublicKey.from_signature_and_message(signature_recid, digest, hasher=None).format()
        assert recover_signer(parse_reading(payload_of(item)), DOMAIN) == meter

    paths = {
        "eth_account": (
            lambda pair: Account.recover_message(encode_typed_data(full_message=pair[0]), signature=pair[1]),
            generic_inputs,
        ),
        "fast": (lambda item: recover_signer(item, DOMAIN), signed),
        "parse_and_fast": (lambda payload: recover_signer(parse_reading(payload), DOMAIN), payloads),
        "bare_ecrecover": (
            lambda pair: PublicKey.from_signature_and_message(pair[0], pair[1], hasher=None),
            bare_inputs,
        ),
    }
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(arguments.runs):  # interleaved, so a noisy spell hits every path alike
        for name, (function, items) in paths.items():
            samples[name].append(rate(function, items))
    medians = {name: statistics.median(values) for name, values in samples.items()}

    generic = medians["eth_account"]
    print(f"EIP-712 recoveries per second, median of {arguments.runs} runs (one thread):")
    labels = {
        "eth_account": "eth-account generic path",
        "fast": "fast path (recover_signer)",
        "parse_and_fast": "parse_reading + recover_signer",
        "bare_ecrecover": "bare coincurve ecrecover",
    }
    for name, label in labels.items():
        spread = f"{min(samples[name]):,.0f}-{max(samples[name]):,.0f}"
        print(f"  {label:32s} {medians[name]:9,.0f}/s  ({medians[name] / generic:5.2f}x generic; runs {spread})")
    print(f"  fast path reaches {medians['fast'] / medians['bare_ecrecover']:.0%} of bare ecrecover")

    write_results(
        "verify",
        {
            "fast_recoveries_per_s": round(medians["fast"]),
            "eth_account_recoveries_per_s": round(generic),
            "bare_ecrecover_per_s": round(medians["bare_ecrecover"]),
            "parse_and_fast_recoveries_per_s": round(medians["parse_and_fast"]),
            "fast_over_eth_account": round(medians["fast"] / generic, 2),
        },
        {
            "runs": arguments.runs,
            "recoveries_per_run": {name: len(items) for name, (_, items) in paths.items()},
            "samples_per_s": {name: [round(value) for value in values] for name, values in samples.items()},
            "note": "median of interleaved runs, one thread; "
            "fast = hand-packed EIP-712 digest + coincurve + checksummed address",
        },
    )


if __name__ == "__main__":
    main()
