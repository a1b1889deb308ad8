"""`vatio bridge`: read a household's own meter, sign its registers as a Vatio meter, publish them.

A bridge is just another meter to the oracle (docs/mqtt.md does not change);
the trust anchor is the bridge's key (docs/meters.md). One module per job:

- ``samples``: what every source yields (cumulative registers plus power) and the bridge's named reasons.
- ``sources/``: one adapter per meter kind (DSMR P1 serial and TCP, SML serial, Shelly MQTT, Home Assistant).
- ``rules``: the real-meter rules that reject or flag a sample before it is signed.
- ``keys``: the meter key from an eth-account keystore; ``vatio bridge keygen``.
- ``state``: the atomically written state file (next seq, last accepted registers, counters).
- ``outbox``: the on-disk FIFO of signed readings waiting for the broker.
- ``publisher``: the MQTT connection that drains the outbox at QoS 1, in order.
- ``runner``: the loop: latest sample every N seconds -> rules -> sign -> outbox -> broker; status snapshots.
- ``status``: the status snapshot file and how ``vatio bridge status`` prints it.
- ``discovery``: Home Assistant MQTT-discovery entities for Vatio's prices, advice, balances and savings.
- ``cli``: the ``vatio bridge`` click group.
"""
