// Hooks that keep a view in step with the platform: a query that can be reloaded, a
// subscription that lives as long as the view, and an assignation's events folded into state.

import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { request, subscribe } from "./api.js";
import { ASSIGNATION_DETAIL, WATCH_EVENTS, YIELDS_THROUGH } from "./queries.js";
import { TERMINAL } from "./ports.js";
import { onUploadsChanged } from "./uploads.js";

/**
 * Runs `query` (a document, or an async function of the variables) when `key` changes;
 * `reload()` runs it again without blanking the view.
 */
export function useQuery(query, variables, key = JSON.stringify(variables)) {
  const [state, setState] = useState({ data: undefined, error: undefined, loading: true });
  const generation = useRef(0);
  const run = useCallback(() => {
    const mine = ++generation.current;
    setState((s) => ({ ...s, loading: true }));
    (typeof query === "function" ? query(variables) : request(query, variables)).then(
      (data) => mine === generation.current && setState({ data, error: undefined, loading: false }),
      (error) => mine === generation.current && setState((s) => ({ ...s, error, loading: false })),
    );
  }, [query, key]);
  useEffect(run, [run]);
  return { ...state, reload: run };
}

/** Subscribes while the view is mounted (and `enabled`); `onData` gets each payload. */
export function useSubscription(query, variables, onData, key = JSON.stringify(variables), enabled = true) {
  const handler = useRef(onData);
  handler.current = onData;
  const vars = useRef(variables);
  vars.current = variables;
  useEffect(() => {
    if (!enabled) return undefined;
    return subscribe(query, () => (typeof vars.current === "function" ? vars.current() : vars.current), {
      next: (data) => handler.current(data),
      error: () => {},
    });
  }, [query, key, enabled]);
}

/**
 * A query's list (`data[field]`), kept current by a subscription that sends one item at each
 * change: each item is replaced by its latest version (by `id`); `update(item)` applies one
 * learnt elsewhere.
 */
export function useLiveList(query, field, subscription, subscriptionField) {
  const { data, error, reload } = useQuery(query, {});
  const [updates, setUpdates] = useState({});
  const update = useCallback((item) => setUpdates((u) => ({ ...u, [item.id]: item })), []);
  useSubscription(subscription, {}, (payload) => update(payload[subscriptionField]));
  const byId = new Map((data?.[field] ?? []).map((item) => [item.id, item]));
  for (const [id, item] of Object.entries(updates)) byId.set(id, item);
  return { items: [...byId.values()], data, loaded: data !== undefined, error, reload, update };
}

/** What a button starts: `run(...)` awaits `action(...)`; `busy` meanwhile, `failure` its error. */
export function useAction(action) {
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState(null);
  const run = async (...args) => {
    setBusy(true);
    setFailure(null);
    try {
      await action(...args);
    } catch (error) {
      setFailure(error.message);
    } finally {
      setBusy(false);
    }
  };
  return { run, busy, failure };
}

/** Re-renders the calling component whenever an upload progresses; returns a version. */
export function useUploads() {
  const [version, setVersion] = useState(0);
  useEffect(() => onUploadsChanged(setVersion), []);
  return version;
}

/** Calls `fn` at most once per `wait` milliseconds, at the end of a burst. */
export function useDebounced(fn, wait) {
  const timer = useRef(undefined);
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => () => clearTimeout(timer.current), []);
  return useCallback(
    (...args) => {
      clearTimeout(timer.current);
      timer.current = setTimeout(() => latest.current(...args), wait);
    },
    [wait],
  );
}

// --- an assignation's events, folded ---

/** Of each list, a run keeps the newest: a long stream costs the page a bounded amount. */
export const KEPT = 500;

export const EMPTY_RUN = Object.freeze({
  status: "QUEUED",
  sequence: 0,
  earlier: false, // whether it was followed from the middle: what came before is unknown
  progress: null,
  progressMessage: null,
  yields: [],
  logs: [],
  error: null,
  cancelReason: null, // why the platform stops it (who cancelled it, or what)
  events: [],
  dropped: Object.freeze({ yields: 0, logs: 0, events: 0 }),
});

const STATUS_OF_EVENT = { PROGRESS: "RUNNING", LOG: "RUNNING", YIELD: "RUNNING" };

/**
 * Applies events (in order, possibly repeated) to a run's state: a new state, in time linear
 * in the events and the lists kept. `dropped` counts what the lists let go of.
 */
export function fold(run, events) {
  if (!events.some((event) => event.sequence > run.sequence)) return run;
  const next = { ...run, yields: [...run.yields], logs: [...run.logs], events: [...run.events], dropped: { ...run.dropped } };
  for (const event of events) {
    if (event.sequence <= next.sequence) continue; // already seen (a resubscription overlaps)
    next.sequence = event.sequence;
    next.events.push(event);
    if (!TERMINAL.has(next.status)) {
      const status = STATUS_OF_EVENT[event.kind] ?? event.kind;
      if (!(next.status === "CANCELLING" && status === "RUNNING")) next.status = status;
    }
    switch (event.kind) {
      case "PROGRESS":
        next.progress = event.progress;
        next.progressMessage = event.message;
        break;
      case "LOG":
        next.logs.push(event);
        break;
      case "YIELD": // one entry per yield (an event may carry several), numbered from 1
        for (const returns of event.yields ?? []) {
          next.yields.push({ ...event, returns, ordinal: next.dropped.yields + next.yields.length + 1 });
        }
        break;
      case "CANCELLING":
        next.cancelReason = event.message;
        break;
      case "DONE":
        if (next.progress != null) next.progress = 100;
        break;
      case "ERROR":
      case "CRITICAL":
      case "DISCONNECTED":
        next.error = event;
        break;
    }
  }
  for (const list of ["yields", "logs", "events"]) {
    const over = next[list].length - KEPT;
    if (over > 0) {
      next[list] = next[list].slice(over);
      next.dropped[list] += over;
    }
  }
  return next;
}

/**
 * A run's state where a view starts following it: at its beginning; at its latest event
 * (`sequence`, with the `status` it has there); or at a window of its newest `events`,
 * `yieldsBefore` them numbering their values.
 */
export function startRun({ events = [], sequence = 0, status = "QUEUED", yieldsBefore = 0 } = {}) {
  const from = events.length ? events[0].sequence - 1 : sequence;
  const dropped = { yields: yieldsBefore, logs: 0, events: from };
  return fold({ ...EMPTY_RUN, status, sequence: from, earlier: from > 0, dropped }, events);
}

/** A call's details, with its newest events, and how many values came before them. */
export async function loadAssignation({ id }) {
  const { assignation } = await request(ASSIGNATION_DETAIL, { id, last: KEPT });
  const first = assignation?.events[0]?.sequence ?? 1;
  if (first === 1) return { assignation: assignation && { ...assignation, yieldsBefore: 0 } };
  const counted = await request(YIELDS_THROUGH, { id, through: first - 1 });
  return { assignation: { ...assignation, yieldsBefore: counted.assignation.yieldCount } };
}

/**
 * Follows an assignation from `start` (see `startRun`): its events so far and as they
 * happen. After a lost connection the subscription resumes after the last sequence it saw,
 * so no event is missed or repeated.
 */
export function useRun(assignationId, start = {}) {
  const [run, setRun] = useState(() => startRun(start));
  const latest = useRef(run);
  latest.current = run;
  useEffect(() => {
    const started = startRun(start);
    setRun(started);
    latest.current = started;
  }, [assignationId]);
  const ended = TERMINAL.has(run.status);
  useSubscription(
    WATCH_EVENTS,
    () => ({ assignation: assignationId, after: latest.current.sequence }),
    (data) => setRun((current) => fold(current, data.watchAssignationEvents)),
    assignationId,
    Boolean(assignationId) && !ended,
  );
  return run;
}
