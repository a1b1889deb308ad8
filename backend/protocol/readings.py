"""Meter readings: the EIP-712 digest, signing and signer recovery (the public interface).

The typed struct and domain are fixed by ``docs/mqtt.md``:

    MeterReading(address meter,uint64 seq,uint64 ts,uint64 producedWh,uint64 consumedWh,uint32 powerW)
    EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)
    domain = {name: "Vatio Meter", version: "1", chainId, verifyingContract: <CommunityRegistry>}

The digest is built by hand (type hash and domain separator precomputed, the
seven struct words packed in one ``struct.pack``): eth-account's generic
encoder gives the same bytes about five times slower, and the oracle hashes
every reading it receives. Tests hold the two equal.
"""

from __future__ import annotations

import functools
import re
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import pairwise

from coincurve import PrivateKey, PublicKey

try:  # safe-pysha3 hashes a 200-byte message about 3x faster than eth-hash's backends
    from sha3 import keccak_256 as _keccak_256

    def keccak(data: bytes) -> bytes:
        """Return keccak256(data)."""
        return _keccak_256(data).digest()

except ImportError:  # pragma: no cover - depends on the environment
    from eth_hash.auto import keccak  # type: ignore[assignment]

__all__ = [
    "MAX_POWER_W",
    "MAX_UINT64",
    "METER_READING_TYPE",
    "InvalidSignature",
    "MeterDomain",
    "MeterReading",
    "SignedReading",
    "keccak",
    "reading_digest",
    "readings_hash",
    "recover_address",
    "recover_from_digest",
    "recover_signer",
    "sign_reading",
    "to_checksum",
    "typed_data",
]

MAX_UINT64 = 2**64 - 1
MAX_POWER_W = 2**32 - 1  # powerW is a uint32

DOMAIN_NAME = "Vatio Meter"
DOMAIN_VERSION = "1"
EIP712_DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
METER_READING_TYPE = (
    "MeterReading(address meter,uint64 seq,uint64 ts,uint64 producedWh,uint64 consumedWh,uint32 powerW)"
)
DOMAIN_TYPE_HASH = keccak(EIP712_DOMAIN_TYPE.encode())
METER_READING_TYPE_HASH = keccak(METER_READING_TYPE.encode())

# Half the secp256k1 group order: a signature with a larger s has a twin
# (n - s, flipped v) that recovers the same key, so only low s is canonical (EIP-2).
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SECP256K1_HALF_N = SECP256K1_N // 2

SIGNATURE_LENGTH = 65
_ZERO_WORD = bytes(32)
_SECP256K1_N_BYTES = SECP256K1_N.to_bytes(32, "big")
_SECP256K1_HALF_N_BYTES = SECP256K1_HALF_N.to_bytes(32, "big")
_RECOVERY_ID = (b"\x00", b"\x01")
_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
# typeHash | meter (12 zero bytes + 20) | seq | ts | producedWh | consumedWh | powerW, each a 32-byte word
_STRUCT_WORDS = struct.Struct(">32s12x20s24xQ24xQ24xQ24xQ28xI")


class InvalidSignature(ValueError):
    """A signature that is malformed, malleable, or recovers no key."""


def to_checksum(address: str) -> str:
    """Return the EIP-55 checksummed form of a 0x + 40 hex address (any case)."""
    if not isinstance(address, str) or not _ADDRESS_RE.fullmatch(address):
        raise ValueError(f"not a 0x-prefixed 20-byte hex address: {address!r}")
    return _checksum_from_hex(address[2:].lower())


# A community has a bounded set of meters, and every reading names its meter
# twice (topic and payload): caching the checksum saves a keccak and a
# 40-character join per use. Bounded, so hostile addresses only evict.
@functools.lru_cache(maxsize=1 << 16)
def _checksum_from_hex(lower_hex: str) -> str:
    address_hash = keccak(lower_hex.encode("ascii")).hex()
    return "0x" + "".join(
        char.upper() if nibble in "89abcdef" else char
        # The hash has 64 nibbles; EIP-55 uses the first 40, one per address character.
        for char, nibble in zip(lower_hex, address_hash, strict=False)
    )


@dataclass(frozen=True)
class MeterReading:
    """One reading of a meter's cumulative registers, as the meter signs it."""

    meter: str  # checksummed address of the meter's key
    seq: int  # strictly increasing per meter
    ts: int  # unix seconds, UTC
    produced_wh: int  # cumulative export register (OBIS 2.8.0)
    consumed_wh: int  # cumulative import register (OBIS 1.8.0)
    power_w: int  # instantaneous net power, 0 when the meter has none

    def __post_init__(self) -> None:
        object.__setattr__(self, "meter", to_checksum(self.meter))
        for name in ("seq", "ts", "produced_wh", "consumed_wh"):
            _check_uint(name, getattr(self, name), MAX_UINT64)
        _check_uint("power_w", self.power_w, MAX_POWER_W)


def _check_uint(name: str, value: object, maximum: int) -> None:
    if type(value) is not int or not 0 <= value <= maximum:
        raise ValueError(f"{name} must be an int in [0, {maximum}], got {value!r}")


@dataclass(frozen=True)
class SignedReading:
    """A reading with the meter's 65-byte r‖s‖v signature over its EIP-712 digest."""

    reading: MeterReading
    signature: bytes


@dataclass(frozen=True)
class MeterDomain:
    """The EIP-712 domain of one community: its chain and CommunityRegistry address."""

    chain_id: int
    verifying_contract: str
    separator: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if type(self.chain_id) is not int or not 0 <= self.chain_id < 2**256:
            raise ValueError(f"chain_id must be a uint256, got {self.chain_id!r}")
        contract = to_checksum(self.verifying_contract)
        object.__setattr__(self, "verifying_contract", contract)
        object.__setattr__(
            self,
            "separator",
            keccak(
                DOMAIN_TYPE_HASH
                + keccak(DOMAIN_NAME.encode())
                + keccak(DOMAIN_VERSION.encode())
                + self.chain_id.to_bytes(32, "big")
                + bytes(12)
                + bytes.fromhex(contract[2:])
            ),
        )

    def typed_data(self) -> dict:
        """Return the domain as an EIP-712 JSON object (for wallets and eth-account)."""
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }


def reading_digest(reading: MeterReading, domain: MeterDomain) -> bytes:
    """Return the 32-byte EIP-712 digest keccak(0x1901 ‖ domainSeparator ‖ hashStruct(reading))."""
    struct_hash = keccak(
        _STRUCT_WORDS.pack(
            METER_READING_TYPE_HASH,
            bytes.fromhex(reading.meter[2:]),
            reading.seq,
            reading.ts,
            reading.produced_wh,
            reading.consumed_wh,
            reading.power_w,
        )
    )
    return keccak(b"\x19\x01" + domain.separator + struct_hash)


def typed_data(reading: MeterReading, domain: MeterDomain) -> dict:
    """Return the reading as a full EIP-712 message, for eth-account and eth_signTypedData_v4."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "MeterReading": [
                {"name": "meter", "type": "address"},
                {"name": "seq", "type": "uint64"},
                {"name": "ts", "type": "uint64"},
                {"name": "producedWh", "type": "uint64"},
                {"name": "consumedWh", "type": "uint64"},
                {"name": "powerW", "type": "uint32"},
            ],
        },
        "primaryType": "MeterReading",
        "domain": domain.typed_data(),
        "message": {
            "meter": reading.meter,
            "seq": reading.seq,
            "ts": reading.ts,
            "producedWh": reading.produced_wh,
            "consumedWh": reading.consumed_wh,
            "powerW": reading.power_w,
        },
    }


def recover_from_digest(digest: bytes, signature: bytes) -> str:
    """Return the checksummed address whose key made ``signature`` (r‖s‖v) over ``digest``.

    Raises InvalidSignature for a wrong length, a v outside {0, 1, 27, 28},
    r or s out of range, a high s (malleable), or a signature that recovers
    no key. A well-formed signature by another key, or over other data,
    recovers a *different* address: comparing it with the expected meter is
    the caller's job.
    """
    return _checksum_from_hex(recover_address(digest, signature).hex())


def recover_address(digest: bytes, signature: bytes) -> bytes:
    """recover_from_digest, returning the 20 address bytes: the hot path compares bytes, not text."""
    if type(signature) is not bytes:
        signature = bytes(signature)
    if len(signature) != SIGNATURE_LENGTH:
        raise InvalidSignature(f"signature must be {SIGNATURE_LENGTH} bytes, got {len(signature)}")
    v = signature[64]
    if v == 27 or v == 28:
        recovery_id = v - 27
    elif v == 0 or v == 1:
        recovery_id = v
    else:
        raise InvalidSignature(f"v must be 27 or 28 (or 0 or 1), got {v}")
    # Compared as big-endian byte strings of equal length: the same order as
    # the integers, without converting them.
    r, s = signature[:32], signature[32:64]
    if not _ZERO_WORD < r < _SECP256K1_N_BYTES:
        raise InvalidSignature("r is out of range")
    if not _ZERO_WORD < s <= _SECP256K1_HALF_N_BYTES:
        raise InvalidSignature("s is zero or above secp256k1n/2 (malleable signature)")
    try:
        public_key = PublicKey.from_signature_and_message(
            signature[:64] + _RECOVERY_ID[recovery_id], digest, hasher=None
        )
    except ValueError as error:  # coincurve: no point recovers for this (r, v)
        raise InvalidSignature(f"no key recovers from this signature: {error}") from None
    return keccak(public_key.format(compressed=False)[1:])[12:]


def recover_signer(signed: SignedReading, domain: MeterDomain) -> str:
    """Return the checksummed address that signed this reading under ``domain``."""
    return recover_from_digest(reading_digest(signed.reading, domain), signed.signature)


def sign_reading(reading: MeterReading, domain: MeterDomain, private_key: bytes | str) -> SignedReading:
    """Sign a reading as a meter does: r‖s‖v with v = 27 + recovery id, low s."""
    if isinstance(private_key, str):
        private_key = bytes.fromhex(private_key.removeprefix("0x"))
    signature = PrivateKey(private_key).sign_recoverable(reading_digest(reading, domain), hasher=None)
    # libsecp256k1 always produces low-s signatures, so no normalisation is needed.
    return SignedReading(reading, signature[:64] + bytes((signature[64] + 27,)))


def readings_hash(
    signed_readings: Iterable[SignedReading],
    domain: MeterDomain,
    digest: Callable[[MeterReading], bytes] | None = None,
) -> bytes:
    """Return keccak256 of the readings' EIP-712 digests concatenated in ``seq`` order.

    A household has one meter, so the order is by seq; should a set ever hold
    several meters, it is by (lower-case meter address, seq).

    This is what a readings-root leaf commits to. It commits to the signed
    content, not to the signature bytes (an ECDSA signature has several valid
    encodings; the content it signs does not). Auditors recompute it from the
    archive after re-verifying every signature. An empty set hashes to
    keccak256(b"") (the leaf then says no reading backs it). Two readings with
    the same seq for the same meter are a ValueError: the oracle stores one.

    ``digest``, when given, must return ``reading_digest(reading, domain)``:
    the auditor passes one that remembers each reading's digest, as every
    reading is hashed in two neighbouring leaves.
    """
    if digest is None:
        digest = functools.partial(_digest_under, domain)
    readings = sorted(
        (signed.reading for signed in signed_readings), key=lambda reading: (reading.meter.lower(), reading.seq)
    )
    for previous, current in pairwise(readings):
        if previous.meter == current.meter and previous.seq == current.seq:
            raise ValueError(f"two readings of meter {current.meter} share seq {current.seq}")
    return keccak(b"".join(map(digest, readings)))


def _digest_under(domain: MeterDomain, reading: MeterReading) -> bytes:
    return reading_digest(reading, domain)
