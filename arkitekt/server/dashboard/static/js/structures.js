// Structures on the page. Files and arrays are uploaded to central storage as soon as they
// are picked (so that only their reference travels with the call), and shown when they come
// back: arrays shaped like images as a preview (a stack of them with a slider through its
// slices), files as download links. Structures this page does not know travel as a
// reference typed by hand.

import { useEffect, useMemo, useState } from "preact/hooks";
import { html } from "./html.js";
import { UPLOADABLE, isReference } from "./ports.js";
import { startUpload, uploadOf } from "./uploads.js";
import { useUploads } from "./live.js";
import { getObjectBlob, listObjects, uploadFile } from "./storage.js";
import {
  arrayFromFile,
  describeArray,
  isImage,
  isStack,
  levels,
  npyOf,
  previewUrl,
  readArray,
  sliceOf,
  uploadArray,
} from "./arrays.js";
import { bytes } from "./format.js";

const LINK_LIMIT = 20_000_000; // files up to this size are fetched at once into a download link

const shortRef = (ref) => `#${ref.slice(0, 8)}`;

/** The input for a STRUCTURE port: a file picker for files and arrays, else a reference. */
export function StructureWidget(props) {
  const { port, draft, onChange, attributes } = props;
  const kind = UPLOADABLE[port.identifier];
  if (!kind) {
    return html`
      <input type="text" autocomplete="off" spellcheck=${false} placeholder=${`${port.identifier ?? "structure"} reference`}
        value=${draft.ref} ...${attributes} onInput=${(e) => onChange({ ref: e.currentTarget.value, upload: null })} />`;
  }
  const choose = (event) => {
    const file = event.currentTarget.files?.[0];
    if (file) onChange(uploading(kind, file));
  };
  // A reference (one a call returned, or one from the Storage page) chains calls without
  // downloading anything.
  const typed = (event) => onChange({ ref: event.currentTarget.value.trim(), upload: null });
  return html`
    <div class="upload">
      <input type="file" class="file" accept=${kind === "array" ? "image/*,.npy" : undefined} ...${attributes}
        onChange=${choose} />
      <span class="muted small">${kind === "array" ? "An image (PNG, JPEG…) or a NumPy .npy file." : "Any file."}</span>
      <input type="text" class="reference mono" autocomplete="off" spellcheck=${false} aria-label="Stored reference"
        placeholder="or a stored reference" value=${draft.upload ? "" : draft.ref} onInput=${typed} />
      ${draft.upload ? html`<${UploadStatus} id=${draft.upload} />` : isReference(draft.ref) && html`<${Stored} port=${port} ref=${draft.ref} />`}
    </div>`;
}

/** The draft of a structure input for a picked file, whose upload starts at once. */
export function uploading(kind, file) {
  const upload = startUpload(file, async (progress, update) => {
    if (kind === "file") return uploadFile(file, progress);
    const array = await arrayFromFile(file);
    update({ array: { shape: array.shape, dtype: array.dtype }, preview: isImage(array.shape) ? previewUrl(array) : null });
    return uploadArray(array, progress);
  });
  return { ref: "", upload };
}

/** A button that picks several files at once: a row each, for a list of files or arrays. */
export function AddFiles({ kind, label, onPick }) {
  const pick = (event) => {
    const files = [...(event.currentTarget.files ?? [])];
    event.currentTarget.value = ""; // picking the same files again adds them again
    if (files.length) onPick(files.map((file) => uploading(kind, file)));
  };
  return html`
    <label class="button subtle small add">
      + Add files…
      <input type="file" multiple class="visually-hidden" accept=${kind === "array" ? "image/*,.npy" : undefined}
        aria-label=${`Add files to ${label}`} onChange=${pick} />
    </label>`;
}

function UploadStatus({ id }) {
  useUploads();
  const upload = uploadOf(id);
  if (!upload) return null;
  const percent = upload.size ? Math.round((100 * upload.sent) / upload.size) : 0;
  return html`
    <div class="upload-status" data-upload=${upload.status}>
      ${upload.status === "uploading" &&
      html`<div class="progress small-bar" role="progressbar" aria-label=${`Uploading ${upload.name}`} aria-valuemin="0"
          aria-valuemax="100" aria-valuenow=${percent}>
          <div class="progress-bar" style=${{ width: `${percent}%` }}></div>
        </div>
        <span class="small">Uploading ${upload.name}… ${percent}%</span>`}
      ${upload.status === "done" &&
      html`<span class="small stored">
          <span class="ok-mark" aria-hidden="true">✓ </span>
          ${`Stored ${upload.name} (${upload.array ? describeArray(upload.array.shape, upload.array.dtype) : bytes(upload.size)}) `}
          <span class="muted mono">${shortRef(upload.ref)}</span>
        </span>`}
      ${upload.preview && html`<img class="thumb" src=${upload.preview} alt=${`The picked image, ${upload.name}`} />`}
    </div>`;
}

function Stored({ port, ref }) {
  return html`
    <div class="upload-status">
      <${StructureValue} port=${port} value=${ref} />
    </div>`;
}

/** A structure's value: an array's preview, a file's download link, or the reference. */
export function StructureValue({ port, value }) {
  switch (UPLOADABLE[port.identifier]) {
    case "array":
      return html`<${ArrayValue} reference=${value} />`;
    case "file":
      return html`<${FileValue} reference=${value} />`;
    default:
      return html`<span class="value"><span class="muted">${port.identifier}</span> <code>${String(value)}</code></span>`;
  }
}

/** A stored value's reference, whole and selected by one click, to paste into another form. */
function Reference({ value }) {
  return html`<code class="ref" title="Its reference: paste it into another function's form">${value}</code>`;
}

function useLoaded(load, key) {
  const [state, setState] = useState({ value: null, error: null });
  useEffect(() => {
    let live = true;
    // What was loaded stays in view until the next value is: a player of frames does not
    // flicker through "Loading…".
    setState((previous) => ({ value: previous.value, error: null }));
    load().then(
      (value) => live && setState({ value, error: null }),
      (error) => live && setState({ value: null, error }),
    );
    return () => {
      live = false;
    };
  }, [key]);
  return state;
}

function ArrayValue({ reference }) {
  const { value: array, error } = useLoaded(async () => {
    const read = await readArray(reference);
    const url = read.data && isImage(read.shape) ? previewUrl(read) : null;
    return { ...read, reference, url, range: read.data && isStack(read.shape) ? levels(read) : null };
  }, reference);
  if (error) return html`<span class="error">The array ${shortRef(reference)} cannot be read: ${error.message}</span>`;
  if (!array) return html`<span class="muted small">Loading array ${shortRef(reference)}…</span>`;
  const text = describeArray(array.shape, array.dtype);
  return html`
    <figure class="array-value" data-ref=${array.reference}>
      ${array.url && html`<img class="preview" src=${array.url} alt=${`Preview of the ${text} array`} />`}
      ${array.range && html`<${Stack} array=${array} text=${text} />`}
      <figcaption class="small">
        <span>${text}</span>
        ${!array.url && !array.range && html`<span class="muted"> · ${array.reason ?? "not shaped like an image"}</span>`}
        ${array.data
          ? html` <button type="button" class="button subtle small" onClick=${() => save(npyOf(array), `${array.reference}.npy`)}>⤓ .npy</button>`
          : html`<span class="muted"> · <code>arkitekt download ${array.reference}</code> saves it</span>`}
        <${Reference} value=${array.reference} />
      </figcaption>
    </figure>`;
}

/** Hands `blob` to the browser as a download named `name`. */
function save(blob, name) {
  const href = URL.createObjectURL(blob);
  const link = Object.assign(document.createElement("a"), { href, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
}

/** A stack of images (a z-stack, a time series) one slice at a time, all on one scale. */
function Stack({ array, text }) {
  const [picked, setPicked] = useState(0);
  const count = array.shape[0];
  const index = Math.min(picked, count - 1);
  const url = useMemo(() => previewUrl(sliceOf(array, index), array.range), [array, index]);
  return html`
    <img class="preview" src=${url} alt=${`Preview of slice ${index + 1} of the ${text} array`} />
    <div class="frame-controls">
      <input type="range" min="0" max=${count - 1} value=${index} aria-label="Slice"
        onInput=${(e) => setPicked(Number(e.currentTarget.value))} />
      <span class="small frame-position">slice ${index + 1} of ${count}</span>
    </div>`;
}

function FileValue({ reference }) {
  const { value: file, error } = useLoaded(async () => {
    const objects = await listObjects(reference);
    const [key, info] = Object.entries(objects)[0] ?? [];
    if (!key) throw new Error("the blob holds no file");
    const data = info.size <= LINK_LIMIT ? await getObjectBlob(reference, key) : null;
    return { key, ...info, reference, href: data ? URL.createObjectURL(data) : null };
  }, reference);
  useEffect(() => () => file?.href && URL.revokeObjectURL(file.href), [file]);
  if (error) return html`<span class="error">The file ${shortRef(reference)} cannot be read: ${error.message}</span>`;
  if (!file) return html`<span class="muted small">Loading file ${shortRef(reference)}…</span>`;
  const name = file.key.split("/").pop();
  const fetchAndSave = async () => save(await getObjectBlob(file.reference, file.key), name);
  return html`
    <div class="file-value" data-ref=${file.reference}>
      ${file.href
        ? html`<a class="download" href=${file.href} download=${name}>⤓ ${name}</a>`
        : html`<button type="button" class="button subtle small" onClick=${fetchAndSave}>⤓ Download ${name}</button>`}
      <span class="muted small">${bytes(file.size)} · ${file.mediaType}<${Reference} value=${file.reference} /></span>
      ${file.href && file.mediaType.startsWith("image/") && html`<img class="preview" src=${file.href} alt=${name} />`}
    </div>`;
}
