"""Each distinct signed reading's EIP-712 digest and signer, worked out once per audit run.

The closing rule lists a reading in two neighbouring leaves (as one entry's
partner after the end and the next entry's anchor), and every leaf's readings
are hashed twice (its readingsHash, and the root). Recovering a signer is the
costly step, so it is remembered for the run, keyed by the whole signed
reading: every signed field and the signature bytes (SignedReading's equality),
under the one domain of the run. A reading that differs in any byte, or the same
content under another signature, is a new key and is recovered again; nothing a
forger chooses alone (a seq, a meter) can stand in for a reading already checked.

The maps hold one small entry per archived reading, the same order of memory
as the parsed documents that ArchiveSource keeps for the run.
"""

from __future__ import annotations

from collections.abc import Iterable

from backend.protocol.readings import (
    InvalidSignature,
    MeterDomain,
    MeterReading,
    SignedReading,
    reading_digest,
    readings_hash,
    recover_from_digest,
)


class VerifiedReadings:
    """Memoised reading_digest, recover_signer and readings_hash under one domain."""

    def __init__(self, domain: MeterDomain):
        self.domain = domain
        self._digests: dict[MeterReading, bytes] = {}
        # the signer, or why no signer recovers (the message; a fresh exception is raised each time)
        self._signers: dict[SignedReading, tuple[str | None, str]] = {}

    def digest(self, reading: MeterReading) -> bytes:
        """reading_digest(reading, domain)."""
        digest = self._digests.get(reading)
        if digest is None:
            digest = self._digests[reading] = reading_digest(reading, self.domain)
        return digest

    def signer(self, signed: SignedReading) -> str:
        """recover_signer(signed, domain): the checksummed address; raises InvalidSignature as it does."""
        if type(signed.signature) is not bytes:  # an unhashable or odd signature: not remembered
            return recover_from_digest(self.digest(signed.reading), signed.signature)
        known = self._signers.get(signed)
        if known is None:
            try:
                known = (recover_from_digest(self.digest(signed.reading), signed.signature), "")
            except InvalidSignature as error:
                known = (None, str(error))
            self._signers[signed] = known
        signer, invalid = known
        if signer is None:
            raise InvalidSignature(invalid)
        return signer

    def readings_hash(self, signed_readings: Iterable[SignedReading]) -> bytes:
        """readings_hash(signed_readings, domain); ValueError for two readings with one seq."""
        return readings_hash(signed_readings, self.domain, digest=self.digest)


def verified_under(domain: MeterDomain, verified: VerifiedReadings | None) -> VerifiedReadings:
    """`verified` when it is this domain's, a fresh one when None; a ValueError for another domain's."""
    if verified is None:
        return VerifiedReadings(domain)
    if verified.domain != domain:
        raise ValueError(f"readings verified under {verified.domain}, not the audited domain {domain}")
    return verified
