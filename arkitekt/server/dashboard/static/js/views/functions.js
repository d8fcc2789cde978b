// The team's functions: searchable, with their description and the agents serving them live.
// Those no agent serves now (apps not running) wait folded below, and below them the older
// versions, which newer ones replaced.

import { useState } from "preact/hooks";
import { html } from "../html.js";
import { NODES, AGENT_CHANGES } from "../queries.js";
import { useDebounced, useQuery, useSubscription } from "../live.js";
import { signature } from "../ports.js";
import { agentName } from "../format.js";

export function FunctionsPage() {
  const [text, setText] = useState("");
  const [search, setSearch] = useState("");
  const settle = useDebounced(setSearch, 200);
  const { data, error, loading, reload } = useQuery(NODES, { search: search.trim() || null });
  const refresh = useDebounced(reload, 150);
  useSubscription(AGENT_CHANGES, {}, refresh);
  const nodes = data?.nodes ?? [];
  const live = nodes.filter((n) => n.implementations.length > 0);
  const offline = nodes.filter((n) => n.implementations.length === 0 && !n.superseded);
  const older = nodes.filter((n) => n.superseded);
  return html`
    <div class="page">
      <header class="page-head">
        <h1>Functions</h1>
        <p class="lead">Everything your team's apps provide. Open a function to run it.</p>
      </header>
      <div class="toolbar">
        <label class="search">
          <span class="visually-hidden">Search functions</span>
          <input type="search" placeholder="Search by name or description" value=${text} autocomplete="off"
            onInput=${(e) => {
              setText(e.currentTarget.value);
              settle(e.currentTarget.value);
            }} />
        </label>
        <span class="muted small" aria-live="polite">
          ${data && `${nodes.length - older.length} ${nodes.length - older.length === 1 ? "function" : "functions"}, ${live.length} live`}
        </span>
      </div>
      ${error && html`<p class="error">${error.message}</p>`}
      ${data && nodes.length === 0 &&
      html`<div class="empty">
        ${search
          ? html`<p>No function matches “${search}”.</p>`
          : html`<p><strong>No functions yet.</strong> Register some by running an app:</p>
              <pre>arkitekt run app.py</pre>`}
      </div>`}
      ${!data && loading && html`<p class="muted">Loading…</p>`}
      <ul class="cards" aria-label="Functions">
        ${live.map((node) => html`<${NodeCard} key=${node.id} node=${node} />`)}
      </ul>
      ${offline.length > 0 &&
      html`<details class="folded" open=${live.length === 0}>
        <summary>${offline.length} offline: no agent serves ${offline.length === 1 ? "it" : "them"} now</summary>
        <ul class="cards" aria-label="Offline functions">
          ${offline.map((node) => html`<${NodeCard} key=${node.id} node=${node} />`)}
        </ul>
      </details>`}
      ${older.length > 0 &&
      html`<details class="folded">
        <summary>${older.length} older ${older.length === 1 ? "version" : "versions"}: a newer one took ${older.length === 1 ? "its" : "their"} place</summary>
        <ul class="cards" aria-label="Older versions">
          ${older.map((node) => html`<${NodeCard} key=${node.id} node=${node} />`)}
        </ul>
      </details>`}
    </div>`;
}

function NodeCard({ node }) {
  const live = node.implementations;
  const summary = node.description?.split("\n")[0];
  return html`
    <li class="card node-card" data-node=${node.name}>
      <a class="card-link" href=${`#/functions/${node.id}`}>
        <div class="title-row">
          <h2>${node.name}</h2>
          ${node.kind === "GENERATOR" && html`<span class="pill neutral">generator</span>`}
        </div>
        ${summary ? html`<p class="summary">${summary}</p>` : html`<p class="summary muted">No description.</p>`}
        <code class="signature small">${signature(node)}</code>
        <p class="served small">
          ${live.length
            ? html`<span class="dot ok" aria-hidden="true"></span> ${live.map((i) => agentName(i.agent)).join(", ")}`
            : html`<span class="dot off" aria-hidden="true"></span> <span class="muted">offline</span>`}
        </p>
      </a>
    </li>`;
}
