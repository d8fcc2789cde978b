// A function's page: what it is, who serves it live, a form generated from its ports, and
// its runs as they happen.

import { useMemo, useRef, useState } from "preact/hooks";
import { html } from "../html.js";
import { request } from "../api.js";
import { ASSIGN, ASSIGN_RESERVED, NODE, AGENT_CHANGES, RESERVE_AGENT, UNRESERVE } from "../queries.js";
import { useDebounced, useQuery, useSubscription, useUploads } from "../live.js";
import { draftOf, modelsOf, readArgs, signature } from "../ports.js";
import { Field } from "../widgets.js";
import { agentName, shortHash } from "../format.js";
import { takePrefill } from "../prefill.js";
import { RunPanel } from "./run.js";

export function FunctionPage({ id }) {
  const { data, error, reload } = useQuery(NODE, { id });
  const refresh = useDebounced(reload, 150);
  useSubscription(AGENT_CHANGES, {}, refresh); // who serves it changes as agents come and go
  if (error && !data) return html`<div class="page"><p class="error">${error.message}</p></div>`;
  if (!data) return html`<div class="page"><p class="muted">Loading…</p></div>`;
  if (!data.node) {
    return html`<div class="page"><h1>Not found</h1><p>No function with this id is visible to you. <a href="#/functions">All functions</a></p></div>`;
  }
  return html`<${FunctionView} key=${data.node.id} node=${data.node} />`;
}

function FunctionView({ node }) {
  const live = node.implementations;
  return html`
    <div class="page function-page">
      <nav class="crumbs" aria-label="Breadcrumb"><a href="#/functions">Functions</a> <span aria-hidden="true">/</span> ${node.name}</nav>
      <header class="page-head">
        <div class="title-row">
          <h1>${node.name}</h1>
          ${node.kind === "GENERATOR" && html`<span class="pill neutral">generator</span>`}
          ${node.superseded && html`<span class="pill neutral">older version</span>`}
        </div>
        ${node.description && html`<p class="lead">${node.description}</p>`}
        <p class="signature"><code>${node.name}${signature(node)}</code></p>
        <div class="served" aria-label="Served by">
          ${live.length
            ? html`<span class="dot ok" aria-hidden="true"></span>
                <span>Served live by ${live.length === 1 ? "one agent" : `${live.length} agents`}:</span>
                ${live.map((i) => html`<span class="tag" key=${i.id} title=${i.agent.id}>${agentName(i.agent)}${
                  live.filter((j) => agentName(j.agent) === agentName(i.agent)).length > 1 ? ` · ${shortHash(i.agent.id)}` : ""
                }</span>`)}`
            : node.superseded
              ? html`<span class="dot off" aria-hidden="true"></span><span class="muted">An older version: the apps that served it serve a newer one now. Runs wait until an agent serves this one again.</span>`
              : html`<span class="dot off" aria-hidden="true"></span><span class="muted">No live agent serves it now: runs wait in the queue.</span>`}
          <span class="muted small hash" title=${node.hash}>#${shortHash(node.hash)}</span>
        </div>
      </header>
      <${Runner} node=${node} />
    </div>`;
}

function initialDrafts(node, models) {
  const args = takePrefill(node.id);
  return Object.fromEntries(node.args.map((port) => [port.key, draftOf(port, args ? args[port.key] : undefined, models)]));
}

function Runner({ node }) {
  const models = useMemo(() => modelsOf(node), [node]);
  const [drafts, setDrafts] = useState(() => initialDrafts(node, models));
  const [touched, setTouched] = useState(() => new Set());
  const [attempted, setAttempted] = useState(false);
  const [runs, setRuns] = useState([]);
  const [sending, setSending] = useState(false);
  const [sendError, setSendError] = useState(null);
  const [agent, setAgent] = useState(""); // "": any instance, in turn
  const form = useRef(null);
  const uploads = useUploads(); // a finished upload changes what the form holds
  const checked = useMemo(() => readArgs(node.args, drafts, models), [node, drafts, uploads]);
  const ctx = {
    models,
    errors: checked.errors,
    shown: (path) => attempted || touched.has(path),
    touch: (path) => setTouched((t) => (t.has(path) ? t : new Set(t).add(path))),
  };
  const invalid = Object.keys(checked.errors);

  const submit = async (event) => {
    event.preventDefault();
    setAttempted(true);
    setSendError(null);
    if (!checked.ok) {
      // Nothing is sent: point at the first field to fix.
      requestAnimationFrame(() => form.current?.querySelector('[aria-invalid="true"]')?.focus());
      return;
    }
    setSending(true);
    try {
      const call = { args: checked.value, reference: crypto.randomUUID() };
      const data = agent ? await assignOn(node, agent, call) : await request(ASSIGN, { node: node.id, ...call });
      setRuns((previous) => [data.assign, ...previous].slice(0, 20));
    } catch (error) {
      setSendError(error.message);
    } finally {
      setSending(false);
    }
  };
  const reset = () => {
    setDrafts(Object.fromEntries(node.args.map((port) => [port.key, draftOf(port, undefined, models)])));
    setTouched(new Set());
    setAttempted(false);
  };

  const [current, ...earlier] = runs;
  return html`
    <div class="workbench">
      <form class="card form" ref=${form} onSubmit=${submit} novalidate aria-label=${`Arguments of ${node.name}`}>
        <div class="card-head">
          <h2>Arguments</h2>
          ${node.args.length > 0 && html`<button type="button" class="button subtle small" onClick=${reset}>Reset to defaults</button>`}
        </div>
        ${node.args.length === 0 && html`<p class="muted">This function takes no arguments.</p>`}
        ${node.args.map(
          (port) => html`
            <${Field} key=${port.key} port=${port} path=${port.key} draft=${drafts[port.key]} ctx=${ctx}
              onChange=${(next) => setDrafts((d) => ({ ...d, [port.key]: next }))} />`,
        )}
        <div class="form-foot">
          ${attempted && invalid.length > 0 &&
          html`<p class="error" role="alert">
            ${invalid.length === 1 ? "One field needs" : `${invalid.length} fields need`} fixing before the call is sent.
          </p>`}
          ${sendError && html`<p class="error" role="alert">${sendError}</p>`}
          <${AgentChoice} node=${node} agent=${agent} onChange=${setAgent} />
          <button type="submit" class="button primary" disabled=${sending}>${sending ? "Sending…" : "Run"}</button>
        </div>
      </form>
      <div class="runs">
        ${current
          ? html`<${RunPanel} key=${current.id} assignation=${current} node=${node} title="Latest run" />`
          : html`<div class="card placeholder">
              <h2>Run</h2>
              <p class="muted">Fill in the arguments and press <strong>Run</strong>. Results stream in here as they are produced, with progress and log lines.</p>
            </div>`}
        ${earlier.length > 0 &&
        html`<details class="card earlier">
          <summary>Earlier runs on this page (${earlier.length})</summary>
          ${earlier.map((a) => html`<${RunPanel} key=${a.id} assignation=${a} node=${node} title="Run" />`)}
        </details>`}
      </div>
    </div>`;
}

/** Runs `call` on `agent` alone, through a reservation of it made for the run. */
async function assignOn(node, agent, call) {
  const { reserve } = await request(RESERVE_AGENT, { node: node.id, agent });
  try {
    return await request(ASSIGN_RESERVED, { reservation: reserve.id, ...call });
  } finally {
    await request(UNRESERVE, { reservation: reserve.id }).catch(() => {}); // the run keeps its agent
  }
}

/** Where a run goes when several instances serve the function: any, in turn, or one of
 * them (the microscope a function drives). A chosen agent that went away stays chosen:
 * runs wait for it rather than go elsewhere. */
function AgentChoice({ node, agent, onChange }) {
  const live = node.implementations.map((i) => i.agent);
  if (live.length < 2 && !agent) return null;
  const away = agent && !live.some((a) => a.id === agent);
  return html`
    <label class="agent-choice small">
      <span>Run on</span>
      <select value=${agent} onChange=${(e) => onChange(e.currentTarget.value)}>
        <option value="">any instance, in turn</option>
        ${live.map((a) => html`<option key=${a.id} value=${a.id}>${agentName(a)} · ${shortHash(a.id)}</option>`)}
        ${away && html`<option value=${agent}>${shortHash(agent)} (away: runs wait for it)</option>`}
      </select>
    </label>`;
}
