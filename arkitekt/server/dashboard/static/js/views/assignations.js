// Your calls: the history, with statuses that follow running calls live, and one call's page
// with its arguments, results and events, and "Run again".

import { useState } from "preact/hooks";
import { html } from "../html.js";
import { request } from "../api.js";
import { ASSIGNATIONS } from "../queries.js";
import { loadAssignation, useDebounced, useQuery, useRun } from "../live.js";
import { TERMINAL, modelsOf } from "../ports.js";
import { Arguments } from "../results.js";
import { Status, ago, agentName, clock, dateTime, duration } from "../format.js";
import { prefill } from "../prefill.js";
import { RunPanel } from "./run.js";

const STATUSES = ["QUEUED", "ASSIGNED", "RUNNING", "CANCELLING", "DONE", "ERROR", "CRITICAL", "CANCELLED", "DISCONNECTED"];
const LIVE_ROWS = 25; // rows beyond this show the status they had when the list loaded
const PAGE = 100; // calls per page; "Show older" loads the next

export function AssignationsPage() {
  const [status, setStatus] = useState("");
  const [text, setText] = useState("");
  const [node, setNode] = useState("");
  const settle = useDebounced(setNode, 250);
  const variables = { status: status || null, node: node.trim() || null, limit: PAGE };
  const { data, error, reload, loading } = useQuery(ASSIGNATIONS, variables);
  const older = useOlder(variables, data?.assignations ?? []);
  const rows = [...(data?.assignations ?? []), ...older.rows];
  let live = 0;
  return html`
    <div class="page">
      <header class="page-head">
        <h1>Assignations</h1>
        <p class="lead">Your calls, newest first. Open one to see its events or run it again.</p>
      </header>
      <div class="toolbar">
        <label class="inline">
          <span>Status</span>
          <select value=${status} onChange=${(e) => setStatus(e.currentTarget.value)}>
            <option value="">All</option>
            ${STATUSES.map((s) => html`<option value=${s}>${s.toLowerCase()}</option>`)}
          </select>
        </label>
        <label class="inline">
          <span>Function</span>
          <input type="search" placeholder="Any" value=${text} autocomplete="off" spellcheck=${false}
            onInput=${(e) => {
              setText(e.currentTarget.value);
              settle(e.currentTarget.value);
            }} />
        </label>
        <button type="button" class="button subtle small" onClick=${reload} disabled=${loading}>Refresh</button>
      </div>
      ${error && html`<p class="error">${error.message}</p>`}
      ${data && rows.length === 0 && html`<div class="empty"><p>No calls ${status || node.trim() ? "match" : "yet"}.</p></div>`}
      ${rows.length > 0 &&
      html`
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr><th scope="col">Function</th><th scope="col">Status</th><th scope="col">Called</th><th scope="col">Agent</th><th scope="col">Arguments</th></tr>
            </thead>
            <tbody>
              ${rows.map((row) => {
                const follow = !TERMINAL.has(row.status) && live++ < LIVE_ROWS;
                return html`<${Row} key=${row.id} row=${row} follow=${follow} />`;
              })}
            </tbody>
          </table>
        </div>
        ${older.error && html`<p class="error">${older.error.message}</p>`}
        ${older.more &&
        html`<p><button type="button" class="button subtle small" onClick=${older.load} disabled=${older.loading}>Show older</button></p>`}`}
    </div>`;
}

/** The pages after the first, loaded on demand, for as long as the filters and the first
 * page stay the same (a refresh that brings newer calls starts over: no gaps, no repeats). */
function useOlder(variables, first) {
  const key = `${JSON.stringify(variables)} ${first.at(-1)?.id ?? ""}`;
  const fresh = { key, rows: [], done: false, loading: false, error: null };
  const [state, setState] = useState(fresh);
  const current = state.key === key ? state : fresh;
  const shown = [...first, ...current.rows];
  const load = async () => {
    setState({ ...current, loading: true, error: null });
    try {
      const page = (await request(ASSIGNATIONS, { ...variables, before: shown.at(-1).id })).assignations;
      setState({ key, rows: [...current.rows, ...page], done: page.length < PAGE, loading: false, error: null });
    } catch (error) {
      setState({ ...current, loading: false, error });
    }
  };
  const more = first.length === PAGE && !current.done;
  return { rows: current.rows, more, load, loading: current.loading, error: current.error };
}

function Row({ row, follow }) {
  const status = follow
    ? html`<${LiveStatus} row=${row} />`
    : html`<${Status} status=${row.status} />${TERMINAL.has(row.status) && html`<${Took} from=${row.createdAt} to=${row.updatedAt} />`}`;
  const args = Object.entries(row.args ?? {})
    .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
    .join("  ");
  return html`
    <tr data-assignation=${row.id}>
      <td><a href=${`#/assignations/${row.id}`}><strong>${row.node.name}</strong></a></td>
      <td>${status}</td>
      <td class="when" title=${dateTime(row.createdAt)}>${ago(row.createdAt)}</td>
      <td>${row.agent ? row.agent.name : html`<span class="muted">—</span>`}</td>
      <td class="args mono small" title=${args}>${args.length > 80 ? `${args.slice(0, 80)}…` : args}</td>
    </tr>`;
}

function LiveStatus({ row }) {
  const run = useRun(row.id, { sequence: row.sequence, status: row.status }); // from now on
  const last = run.events[run.events.length - 1];
  return html`<${Status} status=${run.status} />${TERMINAL.has(run.status) && last && html`<${Took} from=${row.createdAt} to=${last.createdAt} />`}`;
}

/** How long a call took, from its start to its end. */
function Took({ from, to }) {
  return html` <span class="muted small took">${duration(from, to)}</span>`;
}

export function AssignationPage({ id }) {
  const { data, error } = useQuery(loadAssignation, { id });
  if (error && !data) return html`<div class="page"><p class="error">${error.message}</p></div>`;
  if (!data) return html`<div class="page"><p class="muted">Loading…</p></div>`;
  const a = data.assignation;
  if (!a) return html`<div class="page"><h1>Not found</h1><p>No call with this id is yours. <a href="#/assignations">All calls</a></p></div>`;
  return html`<${AssignationView} assignation=${a} />`;
}

function AssignationView({ assignation: a }) {
  const run = useRun(a.id, { events: a.events, yieldsBefore: a.yieldsBefore });
  const again = () => {
    prefill(a.node.id, a.args);
    location.hash = `#/functions/${a.node.id}`;
  };
  const served = a.agent ? ` · served by ${agentName(a.agent)}` : "";
  return html`
    <div class="page">
      <nav class="crumbs" aria-label="Breadcrumb"><a href="#/assignations">Assignations</a> <span aria-hidden="true">/</span> ${a.node.name}</nav>
      <header class="page-head">
        <div class="title-row">
          <h1>${a.node.name}</h1>
          <button type="button" class="button primary small" onClick=${again}>Run again</button>
        </div>
        <p class="muted small">
          ${`Called ${dateTime(a.createdAt)}${served} · `}<a href=${`#/functions/${a.node.id}`}>the function</a>
        </p>
      </header>
      <div class="workbench">
        <div class="stack">
          <section class="card" aria-label="Arguments">
            <h2>Arguments</h2>
            ${a.node.args.length ? html`<${Arguments} ports=${a.node.args} args=${a.args} models=${modelsOf(a.node)} />` : html`<p class="muted">None.</p>`}
          </section>
          <${Events} events=${run.events} dropped=${run.dropped.events} />
        </div>
        <${RunPanel} assignation=${a} node=${a.node} run=${run} title="Outcome" linked=${false} />
      </div>
    </div>`;
}

// Messages worth showing beside an event's kind (QUEUED and ASSIGNED carry internal ids).
const TOLD = new Set(["PROGRESS", "LOG", "ERROR", "CRITICAL", "CANCELLING", "CANCELLED", "DISCONNECTED"]);

function Events({ events, dropped }) {
  return html`
    <details class="card events">
      <summary>Events (${dropped + events.length})</summary>
      ${dropped > 0 && html`<p class="muted small">${dropped} earlier events are not shown.</p>`}
      <ol class="timeline">
        ${events.map(
          (e) => html`
            <li key=${e.sequence}>
              <span class="mono muted">${e.sequence}</span>
              <time datetime=${e.createdAt}>${clock(e.createdAt)}</time>
              <strong>${e.kind.toLowerCase()}</strong>
              <span class="muted">
                ${e.kind === "PROGRESS" ? `${Math.round(e.progress ?? 0)}% ` : ""}${TOLD.has(e.kind) ? e.message ?? "" : ""}
                ${e.kind === "ERROR" && e.errorType ? ` (${e.errorType})` : ""}
              </span>
            </li>`,
        )}
      </ol>
    </details>`;
}
