// Deployments: which release runs on which host, live; deploy, upgrade and undeploy.

import { useState } from "preact/hooks";
import { html } from "../html.js";
import { request } from "../api.js";
import { DEPLOY, DEPLOYMENTS, UNDEPLOY, WATCH_DEPLOYMENTS } from "../queries.js";
import { useAction, useLiveList } from "../live.js";
import { Status, ago, dateTime } from "../format.js";

export function DeploymentsPage() {
  const { items, data, error, reload } = useLiveList(DEPLOYMENTS, "deployments", WATCH_DEPLOYMENTS, "watchDeployments");
  const deployments = items
    .filter((d) => d.status !== "STOPPED")
    .sort((a, b) => a.host.name.localeCompare(b.host.name) || a.app.localeCompare(b.app));
  return html`
    <div class="page">
      <header class="page-head">
        <h1>Deployments</h1>
        <p class="lead">Releases running on hosts. Deploying an app a host runs already upgrades it: the new version starts before the old one stops.</p>
      </header>
      ${error && html`<p class="error">${error.message}</p>`}
      ${data && html`<${DeployForm} releases=${data.releases} hosts=${data.hosts} onDeployed=${reload} />`}
      ${data && deployments.length === 0 && html`<div class="empty"><p><strong>Nothing deployed.</strong> Publish a release with <code>arkitekt publish</code> and run a host with <code>arkitekt host --name NAME</code>.</p></div>`}
      ${deployments.length > 0 &&
      html`
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr><th scope="col">App</th><th scope="col">Version</th><th scope="col">Host</th><th scope="col">Status</th><th scope="col">Restarts</th><th scope="col">Updated</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr>
            </thead>
            <tbody>
              ${deployments.map((d) => html`<${Row} key=${d.id} deployment=${d} />`)}
            </tbody>
          </table>
        </div>`}
    </div>`;
}

function Row({ deployment: d }) {
  const offline = d.host.status !== "CONNECTED";
  // A host that is gone never reports the app stopped: stopping without it is the way out.
  const { run: undeploy, busy, failure } = useAction((force) => request(UNDEPLOY, { deployment: d.id, force }));
  return html`
    <tr data-deployment=${d.id}>
      <td><strong>${d.app}</strong>${d.message && html`<div class="muted small">${d.message}</div>`}</td>
      <td class="mono">${d.release.version}</td>
      <td>${d.host.name}${offline && html` <span class="muted small">(offline)</span>`}</td>
      <td><${Status} status=${d.status} /></td>
      <td class="num">${d.restarts}</td>
      <td class="when" title=${dateTime(d.updatedAt)}>${ago(d.updatedAt)}</td>
      <td>
        ${d.status !== "STOPPING" &&
        html`<button type="button" class="button subtle small" disabled=${busy} onClick=${() => undeploy(false)} aria-label=${`Undeploy ${d.app} from ${d.host.name}`}>Undeploy</button>`}
        ${d.status === "STOPPING" && offline &&
        html`<button type="button" class="button subtle small" disabled=${busy} onClick=${() => undeploy(true)} aria-label=${`Stop ${d.app} without ${d.host.name}`} title="The host is offline: mark the deployment stopped now and revoke its app's tokens">Stop without host</button>`}
        ${failure && html`<p class="error small" role="alert">${failure}</p>`}
      </td>
    </tr>`;
}

function DeployForm({ releases, hosts, onDeployed }) {
  const [release, setRelease] = useState(releases[0]?.id ?? "");
  const [host, setHost] = useState(hosts[0]?.id ?? "");
  const { run: deploy, busy, failure } = useAction(async () => {
    await request(DEPLOY, { release, host });
    onDeployed();
  });
  if (releases.length === 0 || hosts.length === 0) return null;
  const submit = (event) => {
    event.preventDefault();
    deploy();
  };
  return html`
    <form class="card deploy" onSubmit=${submit}>
      <label class="field-label" for="deploy-release">Release</label>
      <select id="deploy-release" value=${release} onChange=${(e) => setRelease(e.currentTarget.value)}>
        ${releases.map((r) => html`<option key=${r.id} value=${r.id}>${r.app} ${r.version}${r.functions.length ? ` (${r.functions.map((f) => f.interface).join(", ")})` : ""}</option>`)}
      </select>
      <label class="field-label" for="deploy-host">Host</label>
      <select id="deploy-host" value=${host} onChange=${(e) => setHost(e.currentTarget.value)}>
        ${hosts.map((h) => html`<option key=${h.id} value=${h.id}>${h.name}${h.status === "CONNECTED" ? "" : " (offline)"}</option>`)}
      </select>
      <button type="submit" class="button primary" disabled=${busy}>${busy ? "Deploying…" : "Deploy"}</button>
      ${failure && html`<p class="error" role="alert">${failure}</p>`}
    </form>`;
}
