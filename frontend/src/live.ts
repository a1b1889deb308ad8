// Live pushes over Socket.IO (docs/api.md "Live pushes"): one connection, reconnecting on its own.
// After signing in or out it reconnects, since the server reads the session in the handshake.
import { io, type Socket } from "socket.io-client";

export type LiveStatus = "connecting" | "connected" | "reconnecting" | "offline";

// The payloads, as the server builds them in one place (backend/readmodel/payloads.py) whichever process
// pushes them; docs/api.md "Live pushes" lists the same fields. Integers are numbers, addresses EIP-55.

/** `reading`: a household's cumulative meter registers (Wh) and its power now. */
export interface LiveReading {
  household: string;
  meter: string;
  seq: number;
  ts: number;
  producedWh: number;
  consumedWh: number;
  powerW: number;
}
/** `fill`: one of the household's orders (orderId 0: its auto order) traded in a settled interval. */
export interface LiveFill {
  intervalId: number;
  orderId: number;
  auto: boolean;
  side: "bid" | "ask";
  amountWh: number;
  value: number;
  blockNumber: number;
  txHash: string;
}
/** `interval_settled`: the interval's clearing price (payment units per kWh) and volumes. */
export interface LiveIntervalSettled {
  intervalId: number;
  readingsRoot: string;
  clearingPrice: number;
  tradedWh: number;
  surplusWh: number;
  coveredWh: number;
  gridImportWh: number;
  blockNumber: number;
  txHash: string;
}
export interface BookLevel {
  price: number;
  amountWh: number;
  orders: number;
}
/** `order_book` (and GET /api/market/book): open orders by price level, bids highest first, asks lowest first. */
export interface LiveOrderBook {
  intervalId: number;
  bids: BookLevel[];
  asks: BookLevel[];
}
/** `rejection` (admin room): a message the oracle refused. */
export interface LiveRejection {
  reason: string;
  meter: string | null;
  topic: string;
  detail: string | null;
  receivedAt: number;
}
/** `forecast`: a new run's day-ahead series, the community's (household null) or one household's. */
export interface LiveForecast {
  issuedAt: number | null;
  horizonH: number | null;
  series: {
    household: string | null;
    kind: "load" | "pv";
    modelVersion: string;
    hourStarts: number[];
    p10Wh: number[];
    p50Wh: number[];
    p90Wh: number[];
  }[];
}
/** `bridge_status` (household room): what the household's bridge reported (docs/mqtt.md "Bridge status"). */
export interface LiveBridgeStatus {
  household: string;
  meter: string;
  source: string | null;
  bridge: {
    problems: Record<string, number>;
    halted: string | null;
    brokerError: string | null;
    queueDepth: number;
    statusTs: number;
  };
}
/** `welcome`: sent on connect, with the rooms the session put this socket in. */
export interface LiveWelcome {
  address: string | null;
  rooms: string[];
}

/** Every live event and its payload. */
export interface LiveEvents {
  reading: LiveReading;
  fill: LiveFill;
  interval_settled: LiveIntervalSettled;
  order_book: LiveOrderBook;
  rejection: LiveRejection;
  forecast: LiveForecast;
  bridge_status: LiveBridgeStatus;
  welcome: LiveWelcome;
}
export type LiveEvent = keyof LiveEvents;

type Listener<E extends LiveEvent> = (payload: LiveEvents[E]) => void;

let socket: Socket | null = null;
let status: LiveStatus = "connecting";
const statusListeners = new Set<(status: LiveStatus) => void>();
// Kept untyped inside: onLive is the only way in, and it pairs each listener with its own event.
const listeners = new Map<LiveEvent, Set<(payload: unknown) => void>>();
const EVENTS: LiveEvent[] = [
  "reading",
  "interval_settled",
  "order_book",
  "forecast",
  "fill",
  "rejection",
  "bridge_status",
  "welcome",
];

function setStatus(next: LiveStatus): void {
  status = next;
  statusListeners.forEach((listener) => listener(next));
}

export function startLive(): void {
  socket = io({
    path: "/socket.io",
    reconnection: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000,
    transports: ["websocket"],
  }); // the production server takes WebSocket only (docs/production.md)
  socket.on("connect", () => setStatus("connected"));
  socket.on("disconnect", (reason) =>
    setStatus(reason === "io client disconnect" ? "offline" : "reconnecting"),
  );
  socket.on("connect_error", () => setStatus(socket?.active ? "reconnecting" : "offline"));
  socket.io.on("reconnect_attempt", () => setStatus("reconnecting"));
  for (const event of EVENTS) {
    socket.on(event, (payload: unknown) => listeners.get(event)?.forEach((listener) => listener(payload)));
  }
}

/** Reconnect so the server puts this socket in the rooms of the new session. */
export function restartLive(): void {
  if (!socket) return;
  socket.disconnect();
  setStatus("connecting");
  socket.connect();
}

export function liveStatus(): LiveStatus {
  return status;
}

export function onLiveStatus(listener: (status: LiveStatus) => void): () => void {
  statusListeners.add(listener);
  return () => statusListeners.delete(listener);
}

/** Listen to one live event; returns the function that stops listening (pages call it on leave). */
export function onLive<E extends LiveEvent>(event: E, listener: Listener<E>): () => void {
  const untyped = listener as (payload: unknown) => void;
  if (!listeners.has(event)) listeners.set(event, new Set());
  listeners.get(event)!.add(untyped);
  return () => listeners.get(event)?.delete(untyped);
}
