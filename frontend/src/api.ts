// The JSON API (docs/api.md): one fetch helper that turns {"error": {...}} answers into ApiError.
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The fields of a failed answer's {"error": {code, message, details}} that have the documented types. */
function errorOf(body: unknown): { code?: string; message?: string; details?: Record<string, unknown> } {
  const error = isRecord(body) ? body.error : undefined;
  if (!isRecord(error)) return {};
  return {
    code: typeof error.code === "string" ? error.code : undefined,
    message: typeof error.message === "string" ? error.message : undefined,
    details: isRecord(error.details) ? error.details : undefined,
  };
}

export async function api<T>(path: string, options: { method?: string; body?: unknown } = {}): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, {
      method: options.method ?? (options.body === undefined ? "GET" : "POST"),
      credentials: "same-origin",
      headers:
        options.body === undefined
          ? { Accept: "application/json" }
          : {
              Accept: "application/json",
              "Content-Type": "application/json",
            },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  } catch (error) {
    throw new ApiError(0, "network", (error as Error).message);
  }
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const failure = errorOf(body);
    throw new ApiError(
      response.status,
      failure.code ?? `http_${response.status}`,
      failure.message ?? `${response.status} ${response.statusText}`,
      failure.details,
    );
  }
  return body as T;
}

/** Fetch a document as text, exactly as served (the readings archive is verified byte for byte). */
export async function fetchText(path: string): Promise<string> {
  const response = await fetch(path, { credentials: "same-origin" });
  if (!response.ok) {
    const text = await response.text();
    let body: unknown = null;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    const failure = errorOf(body);
    throw new ApiError(
      response.status,
      failure.code ?? `http_${response.status}`,
      failure.message ?? `${response.status} ${response.statusText}`,
    );
  }
  return response.text();
}

/** True for a 404, which pages show as an empty state (e.g. forecasts not produced yet). */
export function isMissing(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404;
}
