// Your reservations: standing claims on functions, live as instances come and go.

import { html } from "../html.js";
import { request } from "../api.js";
import { RESERVATIONS, UNRESERVE, WATCH_RESERVATIONS } from "../queries.js";
import { useAction, useLiveList } from "../live.js";
import { Status, agentName, ago, dateTime } from "../format.js";

const STRATEGY = { ROUND_ROBIN: "round robin", LEAST_BUSY: "least busy" };
const ORDER = { WAITING: 0, ACTIVE: 1, ENDED: 2 };

export function ReservationsPage() {
  const { items, loaded, error, update } = useLiveList(RESERVATIONS, "reservations", WATCH_RESERVATIONS, "watchReservations");
  const reservations = items.sort(
    (a, b) => ORDER[a.status] - ORDER[b.status] || b.createdAt.localeCompare(a.createdAt),
  );
  return html`
    <div class="page">
      <header class="page-head">
        <h1>Reservations</h1>
        <p class="lead">Your standing claims on functions: which instances serve your calls, and how they are chosen. Calling a function reserves it for you.</p>
      </header>
      ${error && html`<p class="error">${error.message}</p>`}
      ${loaded && reservations.length === 0 && html`<div class="empty"><p><strong>No reservations yet.</strong> Call a function, or reserve one with <code>client.reserve(...)</code>.</p></div>`}
      ${reservations.length > 0 &&
      html`
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr><th scope="col">Function</th><th scope="col">Status</th><th scope="col">Instances</th><th scope="col">Strategy</th><th scope="col">Served by</th><th scope="col">Created</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr>
            </thead>
            <tbody>
              ${reservations.map((r) => html`<${Row} key=${r.id} reservation=${r} onEnded=${update} />`)}
            </tbody>
          </table>
        </div>`}
    </div>`;
}

function Row({ reservation: r, onEnded }) {
  const { run: end, busy, failure } = useAction(async () => onEnded((await request(UNRESERVE, { reservation: r.id })).unreserve));
  return html`
    <tr data-reservation=${r.id} class=${r.status === "ENDED" ? "muted" : undefined}>
      <td><a href=${`#/functions/${r.node.id}`}><strong>${r.node.name}</strong></a><div class="muted small mono">${r.id.slice(0, 12)}</div></td>
      <td><${Status} status=${r.status} /></td>
      <td class="num" title="live instances / the minimum it waits for">${r.liveInstances} / ${r.minInstances}</td>
      <td>${STRATEGY[r.strategy] ?? r.strategy}</td>
      <td>${r.agents.length === 0 ? html`<span class="muted">any instance</span>` : r.agents.map((a) => html`<span class="tag" key=${a.id}>${agentName(a)}</span>`)}</td>
      <td class="when" title=${dateTime(r.createdAt)}>${ago(r.createdAt)}</td>
      <td>
        ${r.status !== "ENDED" &&
        html`<button type="button" class="button subtle small" disabled=${busy} onClick=${end} aria-label=${`End the reservation of ${r.node.name}`}>End</button>`}
        ${failure && html`<p class="error small" role="alert">${failure}</p>`}
      </td>
    </tr>`;
}
