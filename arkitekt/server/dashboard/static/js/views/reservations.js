// Your reservations: standing claims on functions, live as instances come and go.

import { useState } from "preact/hooks";
import { html } from "../html.js";
import { request } from "../api.js";
import { RESERVATIONS, UNRESERVE, WATCH_RESERVATIONS } from "../queries.js";
import { useQuery, useSubscription } from "../live.js";
import { Status, agentName, ago, dateTime } from "../format.js";

const STRATEGY = { ROUND_ROBIN: "round robin", LEAST_BUSY: "least busy" };
const ORDER = { WAITING: 0, ACTIVE: 1, ENDED: 2 };

export function ReservationsPage() {
  const { data, error } = useQuery(RESERVATIONS, {});
  const [updates, setUpdates] = useState({});
  useSubscription(WATCH_RESERVATIONS, {}, (payload) => {
    const reservation = payload.watchReservations;
    setUpdates((u) => ({ ...u, [reservation.id]: reservation }));
  });
  const byId = new Map((data?.reservations ?? []).map((r) => [r.id, r]));
  for (const [id, reservation] of Object.entries(updates)) byId.set(id, reservation);
  const reservations = [...byId.values()].sort(
    (a, b) => ORDER[a.status] - ORDER[b.status] || b.createdAt.localeCompare(a.createdAt),
  );
  return html`
    <div class="page">
      <header class="page-head">
        <h1>Reservations</h1>
        <p class="lead">Your standing claims on functions: which instances serve your calls, and how they are chosen. Calling a function reserves it for you.</p>
      </header>
      ${error && html`<p class="error">${error.message}</p>`}
      ${data && reservations.length === 0 && html`<div class="empty"><p><strong>No reservations yet.</strong> Call a function, or reserve one with <code>client.reserve(...)</code>.</p></div>`}
      ${reservations.length > 0 &&
      html`
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr><th scope="col">Function</th><th scope="col">Status</th><th scope="col">Instances</th><th scope="col">Strategy</th><th scope="col">Served by</th><th scope="col">Created</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr>
            </thead>
            <tbody>
              ${reservations.map((r) => html`<${Row} key=${r.id} reservation=${r} onEnded=${(ended) => setUpdates((u) => ({ ...u, [ended.id]: ended }))} />`)}
            </tbody>
          </table>
        </div>`}
    </div>`;
}

function Row({ reservation: r, onEnded }) {
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState(null);
  const end = async () => {
    setBusy(true);
    setFailure(null);
    try {
      onEnded((await request(UNRESERVE, { reservation: r.id })).unreserve);
    } catch (error) {
      setFailure(error.message);
    } finally {
      setBusy(false);
    }
  };
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
