// The API client of the dashboard: the stored key, JSON requests, and the live event stream.

const KEY_NAME = "reprogram.apiKey";

/** An error answer of the API ({"error": {"code", "message", "field"?}}) or a network failure. */
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || null;
  }
}

/** The stored API key, from this tab (sessionStorage) or this browser (localStorage). */
export function getKey() {
  return sessionStorage.getItem(KEY_NAME) || localStorage.getItem(KEY_NAME) || "";
}

/** Keep the key for this tab only, or also for later visits when `remember` is set. */
export function setKey(key, remember) {
  clearKey();
  (remember ? localStorage : sessionStorage).setItem(KEY_NAME, key);
}

/** Forget the key everywhere. */
export function clearKey() {
  sessionStorage.removeItem(KEY_NAME);
  localStorage.removeItem(KEY_NAME);
}

function authHeaders(key, extra = {}) {
  return { Authorization: `Bearer ${key || getKey()}`, ...extra };
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: a proxy's error page, say
  }
  const error = body && body.error;
  if (error) return new ApiError(response.status, error.code, error.message, error.field);
  return new ApiError(response.status, "http_error", `${response.status} ${response.statusText}`);
}

/** Send a request to the API; its JSON body, or null for a 204. Throws ApiError for any failure. */
export async function request(path, { method = "GET", json, body, headers, key, signal } = {}) {
  const init = { method, headers: authHeaders(key, headers), signal };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "network_error", "Could not reach the server. Is it running?");
  }
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return null; // a DELETE: no body
  return response.json();
}

/** Fetch a binary answer (an artifact) as a Blob. */
export async function download(path) {
  const response = await fetch(path, { headers: authHeaders() });
  if (!response.ok) throw await errorOf(response);
  return response.blob();
}

/** Parse server-sent events from a stream of text chunks; calls onMessage for each event. */
export function sseParser(onMessage) {
  let buffer = "";
  let data = [];
  let type = "";
  let id = null;
  let retry = null;
  let skipLineFeed = false;

  function line(text) {
    if (text === "") {
      if (data.length) onMessage({ type: type || "message", data: data.join("\n"), id, retry });
      data = [];
      type = "";
      return;
    }
    if (text.startsWith(":")) return; // a comment (keep-alive)
    const colon = text.indexOf(":");
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") data.push(value);
    else if (field === "event") type = value;
    else if (field === "id" && !value.includes("\0")) id = value;
    else if (field === "retry" && /^\d+$/.test(value)) retry = Number(value);
  }

  return {
    push(chunk) {
      // A chunk ending in "\r" may be the first half of a "\r\n" split across two chunks.
      if (skipLineFeed && chunk.startsWith("\n")) chunk = chunk.slice(1);
      skipLineFeed = chunk.endsWith("\r");
      buffer += chunk;
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop();
      for (const text of lines) line(text);
    },
    get lastEventId() {
      return id;
    },
    get retry() {
      return retry;
    },
  };
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new DOMException("aborted", "AbortError"));
    });
  });
}

/**
 * Follow a job's live events: GET /v1/jobs/{id}/events/stream read with fetch() (EventSource
 * cannot send an Authorization header). A dropped connection is reopened after the server's
 * `retry` delay with Last-Event-ID, so no event is lost or repeated. Resolves with the final
 * status when the server ends the stream; rejects with ApiError on 401/404.
 */
export async function followEvents(jobId, { onEvent, onState, signal }) {
  let lastEventId = null;
  let delay = 2000;
  const decoder = new TextDecoder();
  for (;;) {
    const headers = authHeaders(null, { Accept: "text/event-stream" });
    if (lastEventId !== null) headers["Last-Event-ID"] = lastEventId;
    let ended = null;
    try {
      const response = await fetch(`/v1/jobs/${encodeURIComponent(jobId)}/events/stream`, {
        headers,
        signal,
        cache: "no-store",
      });
      if (response.status === 401 || response.status === 404) throw await errorOf(response);
      if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
      onState?.("live");
      const parser = sseParser((message) => {
        if (message.id !== null) lastEventId = message.id;
        if (message.retry !== null) delay = message.retry;
        if (message.type === "end") ended = JSON.parse(message.data).status;
        else onEvent(JSON.parse(message.data));
      });
      const reader = response.body.getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.push(decoder.decode(value, { stream: true }));
        if (ended !== null) {
          reader.cancel().catch(() => {});
          break;
        }
      }
    } catch (err) {
      if (err.name === "AbortError" || err instanceof ApiError) throw err;
      // a network failure: reconnect below
    }
    if (ended !== null) {
      onState?.("ended");
      return ended;
    }
    if (signal?.aborted) throw new DOMException("aborted", "AbortError");
    onState?.("reconnecting");
    await sleep(delay, signal);
  }
}
