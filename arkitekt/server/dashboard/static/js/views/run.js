// One run of a function, live: status, progress, results as they are yielded, log lines, the
// error if any, and a cancel button while it runs.

import { useMemo, useState } from "preact/hooks";
import { html } from "../html.js";
import { request } from "../api.js";
import { CANCEL } from "../queries.js";
import { useRun } from "../live.js";
import { TERMINAL, modelsOf } from "../ports.js";
import { ResultTable, Value, Values, allScalar } from "../results.js";
import { Status, clock, duration } from "../format.js";

/**
 * A run's panel. It follows the assignation itself, unless the page already does and passes
 * its `run` (the folded events, see live.js).
 */
export function RunPanel({ assignation, node, run: followed, title = "Run", linked = true }) {
  const own = useRun(followed ? null : assignation.id);
  const run = followed ?? own;
  const models = useMemo(() => modelsOf(node), [node]);
  const ended = TERMINAL.has(run.status);
  const [cancelError, setCancelError] = useState(null);
  const [asked, setAsked] = useState(false);
  const cancel = async () => {
    setAsked(true);
    setCancelError(null);
    try {
      await request(CANCEL, { assignation: assignation.id });
    } catch (error) {
      setCancelError(error.message);
      setAsked(false);
    }
  };
  const last = run.events.at(-1);
  const shown = run.yields; // the newest (live.js keeps a bounded number)
  const hidden = run.dropped.yields;
  return html`
    <section class="run" aria-label=${title} data-status=${run.status} data-assignation=${assignation.id}>
      <header class="run-head">
        <div class="run-title">
          <h2>${title}</h2>
          <${Status} status=${run.status} />
        </div>
        <div class="run-meta muted small">
          <span>started ${clock(assignation.createdAt)}</span>
          ${ended && last && html`<span> · took ${duration(assignation.createdAt, last.createdAt)}</span>`}
          ${linked && html`<a href=${`#/assignations/${assignation.id}`}>details</a>`}
        </div>
        ${!ended &&
        html`<button type="button" class="button danger small" onClick=${cancel} disabled=${asked || run.status === "CANCELLING"}>
          ${run.status === "CANCELLING" ? "Cancelling…" : "Cancel"}
        </button>`}
      </header>
      ${cancelError && html`<p class="error">${cancelError}</p>`}
      <${Progress} run=${run} ended=${ended} />
      ${run.status === "QUEUED" &&
      html`<p class="notice">Waiting in the queue: no live agent serves this function right now. It starts when one connects.</p>`}
      <div class="results" aria-live="polite">
        <h3 class="section-title">
          ${node.kind === "GENERATOR" ? "Results" : "Result"}
          ${node.kind === "GENERATOR" && html`<span class="count">${hidden + shown.length}</span>`}
        </h3>
        ${hidden + shown.length === 0 && html`<p class="muted small">${ended ? "No results." : "Nothing yet."}</p>`}
        ${hidden > 0 && html`<p class="muted small">${hidden} earlier results are not shown.</p>`}
        ${shown.length > 0 &&
        (isFrames(node)
          ? html`<${Frames} port=${node.returns[0]} events=${shown} total=${hidden + shown.length} />`
          : allScalar(node.returns)
          ? html`<${ResultTable} ports=${node.returns} events=${shown} numbered=${node.kind === "GENERATOR"} />`
          : html`<ol class="yields">
              ${shown.map(
                (event) => html`
                  <li class="yield" key=${event.ordinal}>
                    ${node.kind === "GENERATOR" && html`<span class="yield-index">${event.ordinal}</span>`}
                    <${Values} ports=${node.returns} values=${event.returns ?? []} models=${models} />
                  </li>`,
              )}
            </ol>`)}
      </div>
      ${run.error && html`<${Failure} event=${run.error} />`}
      ${run.status === "CANCELLED" && html`<p class="notice cancelled">${run.cancelReason ?? "Cancelled."}</p>`}
      ${run.logs.length > 0 &&
      html`
        <div class="logs">
          <h3 class="section-title">Log ${!run.earlier && html`<span class="count">${run.dropped.logs + run.logs.length}</span>`}</h3>
          ${run.earlier
            ? html`<p class="muted small">Earlier lines are not shown.</p>`
            : run.dropped.logs > 0 && html`<p class="muted small">${run.dropped.logs} earlier lines are not shown.</p>`}
          <ol class="log">
            ${run.logs.map(
              (event) => html`
                <li key=${event.sequence} class=${`log-line ${(event.level ?? "INFO").toLowerCase()}`}>
                  <time datetime=${event.createdAt}>${clock(event.createdAt)}</time>
                  <span class="level">${event.level ?? "INFO"}</span>
                  <span class="message">${event.message}</span>
                </li>`,
            )}
          </ol>
        </div>`}
    </section>
  `;
}

/** Whether a node streams arrays, one per yield: frames, shown one at a time. */
const isFrames = (node) =>
  node.kind === "GENERATOR" && node.returns.length === 1 && node.returns[0].identifier === "@arkitekt/array";

/**
 * A stream of arrays as a player: the newest frame as it arrives, or the one picked with the
 * slider (then it stays, until "Newest" is ticked again). Only the frame in view is fetched.
 */
function Frames({ port, events, total }) {
  const [picked, setPicked] = useState(null); // an ordinal, or null: follow the newest
  const at = picked == null ? -1 : events.findIndex((e) => e.ordinal === picked);
  const index = at >= 0 ? at : events.length - 1;
  const event = events[index];
  return html`
    <div class="frames">
      <div class="frame-controls">
        <input type="range" min="0" max=${events.length - 1} value=${index} aria-label="Frame"
          aria-valuetext=${`frame ${event.ordinal} of ${total}`}
          onInput=${(e) => setPicked(events[Number(e.currentTarget.value)].ordinal)} />
        <span class="small frame-position">frame ${event.ordinal} of ${total}</span>
        <label class="check small">
          <input type="checkbox" checked=${picked == null} onChange=${(e) => setPicked(e.currentTarget.checked ? null : event.ordinal)} />
          Newest
        </label>
      </div>
      <div class="frame yield-row" data-ordinal=${event.ordinal}>
        <${Value} port=${port} value=${event.returns?.[0]} />
      </div>
    </div>`;
}

function Progress({ run, ended }) {
  if (run.progress == null && (ended || run.status === "QUEUED")) return null;
  const value = run.progress ?? 0;
  const determinate = run.progress != null;
  return html`
    <div class="progress-block">
      <div class=${determinate ? "progress" : "progress indeterminate"} role="progressbar" aria-label="Progress"
        aria-valuemin="0" aria-valuemax="100" aria-valuenow=${determinate ? Math.round(value) : undefined}>
        <div class="progress-bar" style=${{ width: `${determinate ? value : 100}%` }}></div>
      </div>
      <div class="progress-text small">
        <span class="progress-message">${run.progressMessage ?? (determinate ? "" : "Running…")}</span>
        ${determinate && html`<span class="progress-value">${Math.round(value)}%</span>`}
      </div>
    </div>`;
}

function Failure({ event }) {
  const title =
    event.kind === "DISCONNECTED" ? "The agent went away during the call" : event.errorType ?? event.kind.toLowerCase();
  return html`
    <div class="failure" role="alert">
      <p><strong>${title}</strong>${event.message ? html`: ${event.message}` : ""}</p>
      ${event.traceback &&
      html`<details>
        <summary>Traceback</summary>
        <pre>${event.traceback}</pre>
      </details>`}
    </div>`;
}
