// Your blobs in central storage: what each holds, and freeing the ones you no longer need.

import { useEffect, useState } from "preact/hooks";
import { html } from "../html.js";
import { deleteBlob, listBlobs } from "../storage.js";
import { useAction } from "../live.js";
import { ago, bytes, dateTime } from "../format.js";

const PAGE = 100;

export function BlobsPage() {
  const [state, setState] = useState({ stored: undefined, blobs: [], more: false, error: null });
  const load = async (before) => {
    try {
      const page = await listBlobs(PAGE, before);
      setState((s) => ({
        stored: page.stored,
        blobs: before ? [...s.blobs, ...page.blobs] : page.blobs,
        more: page.blobs.length === PAGE,
        error: null,
      }));
    } catch (error) {
      setState((s) => ({ ...s, error }));
    }
  };
  useEffect(() => void load(), []);
  const deleted = (id, size) =>
    setState((s) => ({ ...s, stored: s.stored - size, blobs: s.blobs.filter((b) => b.id !== id) }));
  const { blobs, stored, more, error } = state;
  const last = blobs[blobs.length - 1];
  return html`
    <div class="page">
      <header class="page-head">
        <h1>Storage</h1>
        <p class="lead">Your blobs in central storage: the arrays and files your calls sent and got back.${stored !== undefined && html` All of them hold <strong data-stored>${bytes(stored)}</strong>.`}</p>
      </header>
      ${error && html`<p class="error">${error.message}</p>`}
      ${stored !== undefined && blobs.length === 0 && html`<div class="empty"><p><strong>No blobs.</strong> Arrays and files your calls send or return are stored here.</p></div>`}
      ${blobs.length > 0 &&
      html`
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr><th scope="col">Reference</th><th scope="col">Size</th><th scope="col">Objects</th><th scope="col">Created</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr>
            </thead>
            <tbody>
              ${blobs.map((b) => html`<${Row} key=${b.id} blob=${b} onDeleted=${deleted} />`)}
            </tbody>
          </table>
        </div>
        ${more && html`<p><button type="button" class="button subtle small" onClick=${() => load(last.id)}>Show older</button></p>`}`}
    </div>`;
}

function Row({ blob: b, onDeleted }) {
  const { run: remove, busy, failure } = useAction(async () => {
    await deleteBlob(b.id);
    onDeleted(b.id, b.size);
  });
  return html`
    <tr data-blob=${b.id}>
      <td class="mono">${b.id}</td>
      <td class="num">${bytes(b.size)}</td>
      <td class="num">${b.objects}</td>
      <td class="when" title=${dateTime(b.createdAt)}>${ago(b.createdAt)}</td>
      <td>
        <button type="button" class="button subtle small" disabled=${busy} onClick=${remove} aria-label=${`Delete blob ${b.id}`}>Delete</button>
        ${failure && html`<p class="error small" role="alert">${failure}</p>`}
      </td>
    </tr>`;
}
