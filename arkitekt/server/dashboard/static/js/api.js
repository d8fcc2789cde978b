// The dashboard's only way to the platform: the public GraphQL API.
//
//   request(query, variables)     HTTP POST /graphql with `Authorization: Bearer <token>`
//   subscribe(query, vars, sink)  one shared graphql-transport-ws socket on /graphql; the token
//                                 travels in connection_init's payload, never in the URL
//
// The token lives in sessionStorage: it survives a reload, not the closing of the tab.

const TOKEN_KEY = "arkitekt.token";
const PROTOCOL = "graphql-transport-ws";

export class ApiError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join("; "));
    this.name = "ApiError";
    this.errors = errors;
    this.code = errors[0]?.extensions?.code ?? "INTERNAL";
  }
}

const signedOut = new Set();

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  signIn(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    socket.close();
    for (const listener of signedOut) listener();
  },
  /** Calls `listener` when the token is removed or refused; returns the unsubscriber. */
  onSignOut(listener) {
    signedOut.add(listener);
    return () => signedOut.delete(listener);
  },
};

function refused(error) {
  if (error.code === "UNAUTHENTICATED" && session.token) session.signOut();
}

/** Runs a query or mutation; resolves to `data`, rejects with an ApiError. */
export async function request(query, variables = {}, token = session.token) {
  let response;
  try {
    response = await fetch(new URL("graphql", document.baseURI), {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new ApiError([{ message: "The platform cannot be reached.", extensions: { code: "UNAVAILABLE" } }]);
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError([{ message: `The platform answered ${response.status}.` }]);
  }
  if (body.errors?.length) {
    const error = new ApiError(body.errors);
    if (token === session.token) refused(error);
    throw error;
  }
  return body.data;
}

// --- graphql-transport-ws (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md) ---

const RETRY_DELAYS = [250, 500, 1000, 2000, 4000, 8000];

class Socket {
  constructor() {
    this.ws = null;
    this.acknowledged = false;
    this.subscriptions = new Map(); // id -> { query, variables(), sink }
    this.nextId = 1;
    this.retries = 0;
    this.retryTimer = null;
    this.stateListeners = new Set();
    this.state = "idle"; // idle | connecting | live | retrying
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    for (const listener of this.stateListeners) listener(state);
  }

  onState(listener) {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  subscribe(query, variables, sink) {
    const id = String(this.nextId++);
    const entry = { query, variables: typeof variables === "function" ? variables : () => variables, sink };
    this.subscriptions.set(id, entry);
    if (this.acknowledged) this.start(id, entry);
    else this.connect();
    return () => {
      if (!this.subscriptions.delete(id)) return;
      // Client -> Server: stop the operation.
      if (this.acknowledged) this.send({ id, type: "complete" });
    };
  }

  connect() {
    if (this.ws || this.retryTimer || !session.token) return;
    const url = new URL("graphql", document.baseURI);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(url, PROTOCOL);
    this.ws = ws;
    this.setState(this.retries ? "retrying" : "connecting");
    ws.onopen = () => {
      // Client -> Server: the token goes in the payload, not in the URL.
      this.send({ type: "connection_init", payload: { Authorization: `Bearer ${session.token}` } });
    };
    ws.onmessage = (event) => this.receive(JSON.parse(event.data));
    ws.onclose = (event) => this.closed(ws, event);
  }

  send(message) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  start(id, entry) {
    // Client -> Server: start the operation.
    this.send({ id, type: "subscribe", payload: { query: entry.query, variables: entry.variables() } });
  }

  receive(message) {
    const entry = this.subscriptions.get(message.id);
    switch (message.type) {
      case "connection_ack": // Server -> Client
        this.acknowledged = true;
        this.retries = 0;
        this.setState("live");
        for (const [id, sub] of this.subscriptions) this.start(id, sub);
        break;
      case "ping": // either way: answer at once
        this.send({ type: "pong" });
        break;
      case "next":
        if (!entry) break;
        if (message.payload.errors?.length) entry.sink.error?.(new ApiError(message.payload.errors));
        else entry.sink.next(message.payload.data);
        break;
      case "error":
        if (!entry) break;
        this.subscriptions.delete(message.id);
        entry.sink.error?.(new ApiError(message.payload));
        break;
      case "complete":
        if (!entry) break;
        this.subscriptions.delete(message.id);
        entry.sink.complete?.();
        break;
    }
  }

  closed(ws, event) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.acknowledged = false;
    if (event.code === 4403) {
      // The token was refused at connection_init.
      this.subscriptions.clear();
      this.setState("idle");
      if (session.token) session.signOut();
      return;
    }
    if (!this.subscriptions.size || !session.token) {
      this.setState("idle");
      return;
    }
    // Resubscribe after a pause: each subscription recomputes its variables (for example
    // `after`, the last event it saw), so nothing is missed and nothing is repeated.
    const delay = RETRY_DELAYS[Math.min(this.retries, RETRY_DELAYS.length - 1)];
    this.retries += 1;
    this.setState("retrying");
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  close() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.subscriptions.clear();
    const ws = this.ws;
    this.ws = null;
    this.acknowledged = false;
    ws?.close(1000);
    this.setState("idle");
  }
}

const socket = new Socket();

/**
 * Subscribes to a GraphQL subscription over the shared socket.
 * `variables` may be a function, called again on each (re)subscription.
 * Returns a function that stops the subscription.
 */
export function subscribe(query, variables, sink) {
  return socket.subscribe(query, variables, sink);
}

/** Calls `listener(state)` when the socket's state changes: idle, connecting, live, retrying. */
export function onConnectionState(listener) {
  listener(socket.state);
  return socket.onState(listener);
}
