// Live pushes over Socket.IO (docs/api.md "Live pushes"): one connection, reconnecting on its own.
// After signing in or out it reconnects, since the server reads the session in the handshake.
import { io, type Socket } from "socket.io-client";

export type LiveStatus = "connecting" | "connected" | "reconnecting" | "offline";
export type LiveEvent = "reading" | "interval_settled" | "order_book" | "forecast" | "fill" | "rejection" | "welcome";

export interface LiveReading {
  household: string; meter: string; seq: number; ts: number; producedWh: number; consumedWh: number; powerW: number;
}

type Listener = (payload: any) => void; // eslint-disable-line @typescript-eslint/no-explicit-any

let socket: Socket | null = null;
let status: LiveStatus = "connecting";
const statusListeners = new Set<(status: LiveStatus) => void>();
const listeners = new Map<LiveEvent, Set<Listener>>();
const EVENTS: LiveEvent[] = ["reading", "interval_settled", "order_book", "forecast", "fill", "rejection", "welcome"];

function setStatus(next: LiveStatus): void {
  status = next;
  statusListeners.forEach((listener) => listener(next));
}

export function startLive(): void {
  socket = io({ path: "/socket.io", reconnection: true, reconnectionDelay: 500, reconnectionDelayMax: 5000,
    transports: ["polling", "websocket"] });
  socket.on("connect", () => setStatus("connected"));
  socket.on("disconnect", (reason) => setStatus(reason === "io client disconnect" ? "offline" : "reconnecting"));
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
export function onLive(event: LiveEvent, listener: Listener): () => void {
  if (!listeners.has(event)) listeners.set(event, new Set());
  listeners.get(event)!.add(listener);
  return () => listeners.get(event)?.delete(listener);
}
