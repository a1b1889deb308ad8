"""The read model: stored rows (readings, rejections, chain events) as the browser sees them.

Below both the web app and the oracle, so that every producer of a live
event, and the HTTP API, build the same JSON from the same rows:

  args      reading the contract events' arguments the indexer stored
  market    open orders, the order book, fills and settled intervals (queries and their JSON)
  payloads  one builder per live event: reading, rejection, fill, interval_settled, order_book
  emitter   Socket.IO rooms and the emitter that sends to them (in-process or through Redis)
  publish   what to push for a batch of new rows: both producers call it

It imports nothing from `backend.web` or `backend.oracle`.
"""
