"""A small SML 1.04 builder for the tests: type-length fields, messages and the transport frame, from the spec.

SML (BSI TR-03109-1 Anlage IV, "Smart Message Language" 1.04):
- every value starts with a type-length byte: high nibble the type (0x0 octet string, 0x5 signed,
  0x6 unsigned, 0x7 list), low nibble the length in bytes *including* this byte; for a list, the
  number of elements. 0x01 is an absent optional value, 0x00 ends a message;
- a message is a list of 6: transactionId, groupNo, abortOnError, messageBody (list of 2: the choice
  tag as unsigned 32 and the body), crc16 (unsigned 16 over the message up to it), endOfSmlMsg;
- the transport frame is 1b1b1b1b 01010101, the messages, zero padding to a multiple of 4,
  1b1b1b1b 1a <padding count> and a CRC16 (X.25) over everything before it.

The CRC is smllib's own X.25 function, so what smllib checks is what this writes.
"""

from __future__ import annotations

from smllib.crc.x25 import get_crc

ABSENT = b"\x01"
END_OF_MESSAGE = b"\x00"


def octets(value: bytes) -> bytes:
    assert len(value) < 15
    return bytes((len(value) + 1,)) + value


def unsigned(value: int, size: int) -> bytes:
    return bytes((0x60 | (size + 1),)) + value.to_bytes(size, "big")


def signed(value: int, size: int) -> bytes:
    return bytes((0x50 | (size + 1),)) + value.to_bytes(size, "big", signed=True)


def sml_list(*items: bytes) -> bytes:
    assert len(items) < 16
    return bytes((0x70 | len(items),)) + b"".join(items)


def message(transaction_id: bytes, tag: int, body: bytes, group: int = 0) -> bytes:
    start = (
        bytes((0x76,)) + octets(transaction_id) + unsigned(group, 1) + unsigned(0, 1) + sml_list(unsigned(tag, 4), body)
    )
    crc = get_crc(start)
    return start + unsigned(crc, 2) + END_OF_MESSAGE


def open_response(server_id: bytes, file_id: bytes) -> bytes:
    return sml_list(ABSENT, ABSENT, octets(file_id), octets(server_id), ABSENT, ABSENT)


def close_response() -> bytes:
    return sml_list(ABSENT)


def list_entry(obis: bytes, unit: int, scaler: int, value: bytes) -> bytes:
    return sml_list(octets(obis), ABSENT, ABSENT, unsigned(unit, 1), signed(scaler, 1), value, ABSENT)


def get_list_response(server_id: bytes, entries: list[bytes]) -> bytes:
    return sml_list(ABSENT, octets(server_id), ABSENT, ABSENT, sml_list(*entries), ABSENT, ABSENT)


def transport_frame(messages: bytes) -> bytes:
    padding = (-len(messages)) % 4
    body = b"\x1b\x1b\x1b\x1b\x01\x01\x01\x01" + messages + bytes(padding) + b"\x1b\x1b\x1b\x1b\x1a" + bytes((padding,))
    return body + get_crc(body).to_bytes(2, "big")


def meter_frame(consumed_wh_tenths: int, produced_wh_tenths: int, power_w: int, counter: int = 1) -> bytes:
    """One eHZ-like frame: open, a list with 1.8.0 and 2.8.0 (0.1 Wh, scaler -1) and 16.7.0 (W), close."""
    server_id = bytes.fromhex("0a01454d480000b8ef2a")
    entries = [
        list_entry(bytes.fromhex("0100010800ff"), 30, -1, unsigned(consumed_wh_tenths, 8)),
        list_entry(bytes.fromhex("0100020800ff"), 30, -1, unsigned(produced_wh_tenths, 8)),
        list_entry(bytes.fromhex("0100100700ff"), 27, 0, signed(power_w, 4)),
    ]
    transaction = counter.to_bytes(4, "big")
    return transport_frame(
        message(transaction + b"\x01", 0x0101, open_response(server_id, transaction))
        + message(transaction + b"\x02", 0x0701, get_list_response(server_id, entries))
        + message(transaction + b"\x03", 0x0201, close_response())
    )
