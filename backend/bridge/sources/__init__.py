"""One adapter per meter kind. Each turns its source into MeterSample events (or SourceProblem ones).

- ``dsmr``: DSMR 4/5 P1 telegrams (dsmr-parser), over a serial port or TCP.
- ``sml``: SML frames (smllib) over a serial port (IR read head).
- ``shelly``: Shelly Gen2/Gen3 energy meters' status notifications over the household's MQTT.
- ``homeassistant``: Home Assistant sensors with ``state_class: total_increasing`` through its REST or WebSocket API.
- ``streams``: the byte streams the first two read from (serial port, TCP socket).
"""
