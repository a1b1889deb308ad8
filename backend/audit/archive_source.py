"""Where archive documents come from: a folder, or the web app over HTTP.

A folder holds `<folder>/<chainId>/<intervalId>.json` (the oracle's layout);
a folder that is already one chain's (`<folder>/<intervalId>.json`) works too.
A URL base is asked `GET <base>/api/intervals/<intervalId>/archive`.

A document that is not there is ArchiveMissing and one that does not parse
is ArchiveMalformed: both are findings about that interval. A server that
does not answer at all is ArchiveUnreachable: the audit cannot go on.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from backend.protocol.archive import ArchivedInterval, ArchivedLeaf, ArchiveMalformed, archive_path, parse_archive_bytes

# Far above any real document (1,000 leaves x a dozen readings is ~3 MB); a
# bigger answer is refused rather than read into memory.
MAX_DOCUMENT_BYTES = 256 * 1024 * 1024


class ArchiveMissing(LookupError):
    """No document for this interval."""


class ArchiveUnreachable(OSError):
    """The archive server cannot be reached (not a finding about any interval)."""


class ArchiveSource:
    """Loads and parses documents, each at most once per audit."""

    def __init__(self, location: str, chain_id: int, timeout_s: float = 30.0):
        self.location = location
        self.chain_id = chain_id
        self.timeout_s = timeout_s
        self.is_url = location.startswith(("http://", "https://"))
        self._cache: dict[int, ArchivedInterval | Exception] = {}
        self._leaves: dict[int, dict[str, ArchivedLeaf]] = {}

    def describe(self) -> str:
        return self.location

    def load(self, interval_id: int) -> ArchivedInterval:
        """The parsed document; raises ArchiveMissing, ArchiveMalformed or ArchiveUnreachable."""
        if interval_id not in self._cache:
            try:
                raw = self._fetch(interval_id)
                self._cache[interval_id] = parse_archive_bytes(raw)
            except (ArchiveMissing, ArchiveMalformed) as finding:
                self._cache[interval_id] = finding
        cached = self._cache[interval_id]
        if isinstance(cached, Exception):
            raise cached
        return cached

    def leaf_of_meter(self, interval_id: int, meter: str) -> ArchivedLeaf | None:
        """The meter's first leaf in the interval's document (raises as `load` does).

        Every leaf of an interval asks about its meter in the previous document: a scan per question
        would be quadratic in households, so each document is indexed by meter once."""
        if interval_id not in self._leaves:
            index: dict[str, ArchivedLeaf] = {}
            for leaf in self.load(interval_id).leaves:
                index.setdefault(leaf.meter, leaf)
            self._leaves[interval_id] = index
        return self._leaves[interval_id].get(meter)

    def _fetch(self, interval_id: int) -> bytes:
        return self._fetch_url(interval_id) if self.is_url else self._fetch_file(interval_id)

    def _fetch_file(self, interval_id: int) -> bytes:
        folder = Path(self.location)
        candidates = [archive_path(folder, self.chain_id, interval_id), folder / f"{interval_id}.json"]
        for path in candidates:
            if path.is_file():
                if path.stat().st_size > MAX_DOCUMENT_BYTES:
                    raise ArchiveMalformed(f"{path} is larger than {MAX_DOCUMENT_BYTES} bytes")
                return path.read_bytes()
        raise ArchiveMissing(f"archive document missing: no {candidates[0]}")

    def _fetch_url(self, interval_id: int) -> bytes:
        url = f"{self.location.rstrip('/')}/api/intervals/{interval_id}/archive"
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read(MAX_DOCUMENT_BYTES + 1)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                raise ArchiveMissing(f"archive document missing: GET {url} answered 404") from None
            if error.code >= 500:
                raise ArchiveUnreachable(f"archive server failed: GET {url} answered HTTP {error.code}") from None
            raise ArchiveMalformed(f"GET {url} answered HTTP {error.code}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise ArchiveUnreachable(f"archive server at {self.location} does not answer: {reason}") from None
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise ArchiveMalformed(f"GET {url} answered more than {MAX_DOCUMENT_BYTES} bytes")
        return raw
