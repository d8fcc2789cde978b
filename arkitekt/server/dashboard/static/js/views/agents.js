// The agents: every app process that ever connected, live as they connect and disconnect.
// The connected ones first; the others (stopped apps, earlier runs) folded, newest first.

import { html } from "../html.js";
import { AGENTS, WATCH_AGENTS } from "../queries.js";
import { useLiveList } from "../live.js";
import { Status, ago, dateTime } from "../format.js";

export function AgentsPage() {
  const { items, loaded, error } = useLiveList(AGENTS, "agents", WATCH_AGENTS, "watchAgents");
  const agents = items.sort((a, b) => a.name.localeCompare(b.name));
  const connected = agents.filter((a) => a.status === "CONNECTED");
  const gone = agents.filter((a) => a.status !== "CONNECTED");
  return html`
    <div class="page">
      <header class="page-head">
        <h1>Agents</h1>
        <p class="lead">The app processes that serve functions. Instances of one app form a pool.</p>
      </header>
      ${error && html`<p class="error">${error.message}</p>`}
      ${loaded && agents.length === 0 && html`<div class="empty"><p><strong>No agents yet.</strong> Start one with <code>arkitekt run app.py</code>.</p></div>`}
      ${agents.length > 0 &&
      html`
        <p class="muted small" aria-live="polite">${connected.length} of ${agents.length} connected</p>
        ${connected.length > 0 && html`<${AgentTable} agents=${connected} label="Connected agents" />`}
        ${gone.length > 0 &&
        html`<details class="folded" open=${connected.length === 0}>
          <summary>${gone.length} disconnected: apps that stopped, and earlier runs of them</summary>
          <${AgentTable} agents=${gone.sort((a, b) => seen(b).localeCompare(seen(a)))} label="Disconnected agents" />
        </details>`}`}
    </div>`;
}

const seen = (agent) => agent.lastSeen ?? agent.connectedAt ?? "";

function AgentTable({ agents, label }) {
  return html`
    <div class="table-wrap">
      <table class="table" aria-label=${label}>
        <thead>
          <tr><th scope="col">App</th><th scope="col">Status</th><th scope="col">Host</th><th scope="col">Running</th><th scope="col">Functions</th><th scope="col">Last seen</th></tr>
        </thead>
        <tbody>
          ${agents.map(
            (agent) => html`
              <tr key=${agent.id} data-agent=${agent.id}>
                <td><strong>${agent.name}</strong><div class="muted small mono" title="instance">${agent.instance.slice(0, 12)}</div></td>
                <td><${Status} status=${agent.status} /></td>
                <td>${agent.hostname ?? html`<span class="muted">—</span>`}</td>
                <td class="num">${agent.running}</td>
                <td>
                  ${agent.implementations
                    .filter((i) => i.active)
                    .map((i) => html`<a class="tag" key=${i.id} href=${`#/functions/${i.node.id}`}>${i.interface}</a>`)}
                </td>
                <td class="when" title=${dateTime(seen(agent))}>
                  ${agent.status === "CONNECTED" ? "now" : ago(seen(agent))}
                </td>
              </tr>`,
          )}
        </tbody>
      </table>
    </div>`;
}
