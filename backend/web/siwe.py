"""Sign-In with Ethereum (EIP-4361): the message format, its parser, and the checks on a signed one.

Pure: text and numbers in, a SiweMessage or a SiweError out. The web layer
adds the nonce store and the roles. The `siwe` package was not used: its
grammar fails to load with the `abnf` release pip picks here.

A message, as a wallet shows it (optional lines in brackets):

    example.org wants you to sign in with your Ethereum account:
    0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2

    [Sign in to Vatio.]

    URI: https://example.org/login
    Version: 1
    Chain ID: 31337
    Nonce: 32891756abcdef12
    Issued At: 2026-11-25T07:00:00Z
    [Expiration Time: 2026-11-25T07:05:00Z]
    [Not Before: 2026-11-25T07:00:00Z]
    [Request ID: any text]
    [Resources:
    - https://example.org/terms]

Only EOA signatures (personal_sign, EIP-191) are accepted; contract wallets
(EIP-1271) are not supported.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.exceptions import BadSignature
from eth_utils import is_checksum_address

__all__ = [
    "SiweError",
    "SiweMessage",
    "check_message",
    "format_message",
    "format_timestamp",
    "parse_message",
    "recover_signer",
]

MAX_MESSAGE_CHARS = 4096
# The order of secp256k1's group. EIP-2: a signature with s above half of it is the malleable twin of one below.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
WEB_SCHEMES = ("http", "https")
# Control, format (bidi overrides, zero-width), line and paragraph separators: what makes a wallet show
# something other than what is signed. LF separates the lines and is checked by the grammar.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_HEADER = re.compile(
    r"^(?:(?P<scheme>[a-zA-Z][a-zA-Z0-9+\-.]*)://)?(?P<domain>[^\s/?#]+)"
    r" wants you to sign in with your Ethereum account:$"
)
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_NONCE = re.compile(r"^[a-zA-Z0-9]{8,}$")
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+\-.]*:\S+$")
_SIGNATURE = re.compile(r"^0x[0-9a-fA-F]{130}$")
# RFC 3339 date-time, as EIP-4361 requires
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$")
_FIELDS = ("URI", "Version", "Chain ID", "Nonce", "Issued At", "Expiration Time", "Not Before", "Request ID")
_REQUIRED = ("URI", "Version", "Chain ID", "Nonce", "Issued At")


class SiweError(ValueError):
    """A sign-in message that is malformed or fails a check; `code` says which."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SiweMessage:
    domain: str
    address: str
    uri: str
    version: str
    chain_id: int
    nonce: str
    issued_at: int  # unix seconds
    statement: str | None = None
    scheme: str | None = None
    expiration_time: int | None = None
    not_before: int | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = field(default_factory=tuple)


def format_timestamp(unix_s: int) -> str:
    """Return the RFC 3339 UTC spelling of unix seconds (the form this server writes)."""
    return datetime.fromtimestamp(unix_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_timestamp(name: str, text: str) -> int:
    if not _DATETIME.match(text):
        raise SiweError("invalid_message", f"{name} is not an RFC 3339 date-time: {text!r}")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SiweError("invalid_message", f"{name} is not a valid date-time: {text!r}") from exc
    return int(moment.timestamp())


def parse_message(text: str) -> SiweMessage:
    """Parse an EIP-4361 message; raise SiweError('invalid_message') for anything off the grammar."""
    if not isinstance(text, str) or not text or len(text) > MAX_MESSAGE_CHARS:
        raise SiweError("invalid_message", f"the message must be 1 to {MAX_MESSAGE_CHARS} characters")
    if "\r" in text:
        raise SiweError("invalid_message", "lines must end with LF only")
    hidden = next((c for c in text if c != "\n" and unicodedata.category(c) in _HIDDEN_CATEGORIES), None)
    if hidden is not None:
        raise SiweError("invalid_message", f"the message holds a control or invisible character (U+{ord(hidden):04X})")
    lines = text.split("\n")
    header = _HEADER.match(lines[0])
    if header is None:
        raise SiweError(
            "invalid_message", "the first line must be '<domain> wants you to sign in with your Ethereum account:'"
        )
    if header["scheme"] is not None and header["scheme"].lower() not in WEB_SCHEMES:
        raise SiweError(
            "invalid_message", f"the scheme before the domain must be http or https, not {header['scheme']!r}"
        )
    if len(lines) < 3 or not _ADDRESS.match(lines[1]):
        raise SiweError("invalid_message", "the second line must be a 0x address")
    address = lines[1]
    if not is_checksum_address(address):
        raise SiweError("invalid_message", "the address must be in its EIP-55 checksum form")
    # address LF LF [statement LF] LF "URI: "
    if lines[2] != "":
        raise SiweError("invalid_message", "a blank line must follow the address")
    index = 3
    statement = None
    if index < len(lines) and lines[index] != "" and not lines[index].startswith("URI: "):
        statement = lines[index]
        index += 1
    if index < len(lines) and lines[index] == "":
        index += 1
    elif statement is not None:
        raise SiweError("invalid_message", "a blank line must follow the statement")

    values: dict[str, str] = {}
    order = iter(_FIELDS)
    resources: list[str] = []
    while index < len(lines):
        line = lines[index]
        index += 1
        if line == "Resources:":
            while index < len(lines) and lines[index].startswith("- "):
                resource = lines[index][2:]
                if not _URI.match(resource):
                    raise SiweError("invalid_message", f"resource {resource!r} is not a URI")
                resources.append(resource)
                index += 1
            if index < len(lines):
                raise SiweError("invalid_message", "nothing may follow the resources")
            break
        name, sep, value = line.partition(": ")
        if not sep or name not in _FIELDS:
            raise SiweError("invalid_message", f"unexpected line {line[:60]!r}")
        for expected in order:  # fields come in the fixed order, each at most once
            if expected == name:
                break
        else:
            raise SiweError("invalid_message", f"field {name!r} is out of order or repeated")
        values[name] = value
    missing = [name for name in _REQUIRED if name not in values]
    if missing:
        raise SiweError("invalid_message", f"missing fields: {', '.join(missing)}")
    if not _URI.match(values["URI"]):
        raise SiweError("invalid_message", "URI is not a URI")
    if not values["Chain ID"].isdigit() or len(values["Chain ID"]) > 20:
        raise SiweError("invalid_message", "Chain ID must be a decimal integer")
    if not _NONCE.match(values["Nonce"]):
        raise SiweError("invalid_message", "Nonce must be at least 8 letters or digits")
    return SiweMessage(
        domain=header["domain"],
        scheme=header["scheme"],
        address=address,
        statement=statement,
        uri=values["URI"],
        version=values["Version"],
        chain_id=int(values["Chain ID"]),
        nonce=values["Nonce"],
        issued_at=_parse_timestamp("Issued At", values["Issued At"]),
        expiration_time=(
            _parse_timestamp("Expiration Time", values["Expiration Time"]) if "Expiration Time" in values else None
        ),
        not_before=_parse_timestamp("Not Before", values["Not Before"]) if "Not Before" in values else None,
        request_id=values.get("Request ID"),
        resources=tuple(resources),
    )


def recover_signer(text: str, signature: str) -> str:
    """Return the address that personal_sign-ed `text` (EIP-191); raise SiweError('bad_signature')."""
    if not isinstance(signature, str) or not _SIGNATURE.match(signature):
        raise SiweError("bad_signature", "the signature must be 0x + 65 bytes of hex")
    s = int(signature[66:130], 16)
    if not 0 < s <= SECP256K1_N // 2:
        raise SiweError(
            "bad_signature",
            "the signature's s is not in the lower half of the curve order (EIP-2): sign again with a standard wallet",
        )
    try:
        return Account.recover_message(encode_defunct(text=text), signature=signature)
    except (ValueError, TypeError, BadSignature) as exc:  # e.g. an r, s or v that recovers no key
        raise SiweError("bad_signature", "the signature recovers no key") from exc


def check_message(
    message: SiweMessage, *, domains: tuple[str, ...], chain_id: int, now: int, max_age_s: int, clock_skew_s: int
) -> None:
    """Check domain, URI, version, chain id and the time fields; raise SiweError with the failing check's code."""
    if message.domain not in domains:
        raise SiweError("wrong_domain", f"the message is for {message.domain!r}, this site is {domains[0]!r}")
    try:
        uri = urlsplit(message.uri)
        scheme, netloc = uri.scheme.lower(), uri.netloc
    except ValueError:  # e.g. an unclosed IPv6 bracket
        scheme = netloc = ""
    if scheme not in WEB_SCHEMES or netloc != message.domain:
        raise SiweError(
            "wrong_uri", f"the URI must be an http(s) address on {message.domain}, got {message.uri[:100]!r}"
        )
    if message.version != "1":
        raise SiweError("invalid_message", f"unsupported version {message.version!r}")
    if message.chain_id != chain_id:
        raise SiweError("wrong_chain", f"the message is for chain {message.chain_id}, this community is on {chain_id}")
    if message.issued_at > now + clock_skew_s:
        raise SiweError("not_yet_valid", "Issued At is in the future")
    if message.issued_at < now - max_age_s:
        raise SiweError("expired", f"the message was issued more than {max_age_s} s ago")
    if message.expiration_time is not None and message.expiration_time <= now:
        raise SiweError("expired", "the message has expired")
    if message.not_before is not None and message.not_before > now + clock_skew_s:
        raise SiweError("not_yet_valid", "the message is not valid yet (Not Before)")


def format_message(message: SiweMessage) -> str:
    """Return the EIP-4361 text of a message (what the wallet shows and signs)."""
    prefix = f"{message.scheme}://" if message.scheme else ""
    lines = [f"{prefix}{message.domain} wants you to sign in with your Ethereum account:", message.address, ""]
    # EIP-4361: address LF LF [statement LF] LF "URI: ..."
    lines += [message.statement, ""] if message.statement is not None else [""]
    lines += [
        f"URI: {message.uri}",
        f"Version: {message.version}",
        f"Chain ID: {message.chain_id}",
        f"Nonce: {message.nonce}",
        f"Issued At: {format_timestamp(message.issued_at)}",
    ]
    if message.expiration_time is not None:
        lines.append(f"Expiration Time: {format_timestamp(message.expiration_time)}")
    if message.not_before is not None:
        lines.append(f"Not Before: {format_timestamp(message.not_before)}")
    if message.request_id is not None:
        lines.append(f"Request ID: {message.request_id}")
    if message.resources:
        lines.append("Resources:")
        lines += [f"- {resource}" for resource in message.resources]
    return "\n".join(lines)
