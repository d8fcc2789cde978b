// Central storage over its public HTTP API, with the same bearer token as GraphQL:
//
//   POST /blobs                  a new, empty blob          -> {id}
//   GET  /blobs?limit=&before=   your blobs, newest first   -> {stored, blobs: [{id, size, objects, createdAt}]}
//   DELETE /blobs/{blob}         frees it                   -> 204
//   PUT  /blobs/{blob}/{key}     one object, written once   -> {key, size}
//   GET  /blobs/{blob}           its objects                -> {id, objects: {key: {size, mediaType}}}
//   GET  /blobs/{blob}/{key}     one object
//
// A structure's reference is the id of the blob that holds it.

import { ApiError, session } from "./api.js";

const url = (...parts) => new URL(["blobs", ...parts].join("/"), document.baseURI);
const objectPath = (blob, key) => [encodeURIComponent(blob), ...key.split("/").map(encodeURIComponent)];

function failure(status, text) {
  try {
    const errors = JSON.parse(text).errors;
    if (Array.isArray(errors) && errors.length) return new ApiError(errors);
  } catch {
    // not JSON: fall through
  }
  return new ApiError([{ message: `The storage answered HTTP ${status}.` }]);
}

async function send(method, target, options = {}) {
  let response;
  try {
    response = await fetch(target, {
      method,
      ...options,
      headers: { Authorization: `Bearer ${session.token}`, ...options.headers },
    });
  } catch {
    throw new ApiError([{ message: "The platform's storage cannot be reached." }]);
  }
  if (!response.ok) {
    const error = failure(response.status, await response.text());
    if (error.code === "UNAUTHENTICATED") session.signOut();
    throw error;
  }
  return response;
}

export async function createBlob() {
  const response = await send("POST", url());
  return (await response.json()).id;
}

/** Stores one object; `onProgress(sent, total)` follows the upload (XHR: fetch cannot). */
export function putObject(blob, key, body, mediaType, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("PUT", url(...objectPath(blob, key)));
    request.setRequestHeader("Authorization", `Bearer ${session.token}`);
    request.setRequestHeader("Content-Type", mediaType || "application/octet-stream");
    request.upload.onprogress = (event) => onProgress?.(event.loaded, event.total);
    request.onload = () => {
      if (request.status >= 200 && request.status < 300) resolve(JSON.parse(request.responseText));
      else reject(failure(request.status, request.responseText));
    };
    request.onerror = () => reject(new ApiError([{ message: "The upload was interrupted." }]));
    request.send(body);
  });
}

/** Your blobs, newest first: { stored, blobs }; `before` (the last blob's id) pages on. */
export async function listBlobs(limit = 100, before = undefined) {
  const target = url();
  target.searchParams.set("limit", String(limit));
  if (before) target.searchParams.set("before", before);
  const response = await send("GET", target);
  return await response.json();
}

const changes = new EventTarget();

/** Calls `listener` when this tab deletes a blob; returns the unsubscribe function. */
export function onStorageChanged(listener) {
  changes.addEventListener("change", listener);
  return () => changes.removeEventListener("change", listener);
}

export async function deleteBlob(blob) {
  await send("DELETE", url(encodeURIComponent(blob)));
  changes.dispatchEvent(new Event("change"));
}

/** A blob's objects: { key: { size, mediaType } }. */
export async function listObjects(blob) {
  const response = await send("GET", url(encodeURIComponent(blob)));
  return (await response.json()).objects;
}

/** One object's bytes, or null when `optional` and it does not exist. */
export async function getObject(blob, key, { optional = false } = {}) {
  try {
    const response = await send("GET", url(...objectPath(blob, key)));
    return await response.arrayBuffer();
  } catch (error) {
    if (optional && error.code === "NOT_FOUND") return null;
    throw error;
  }
}

/** One object as a Blob with its media type (for downloads and image previews). */
export async function getObjectBlob(blob, key) {
  const response = await send("GET", url(...objectPath(blob, key)));
  return await response.blob();
}

/** Uploads a file as a File structure (one object named after it); returns the reference. */
export async function uploadFile(file, onProgress) {
  const blob = await createBlob();
  await putObject(blob, file.name || "data", file, file.type, onProgress);
  return blob;
}
