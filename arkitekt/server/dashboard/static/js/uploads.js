// Uploads in flight, kept apart from the form's drafts: a draft holds only the upload's id,
// so an upload that finishes later never overwrites what the user changed meanwhile.
//
// An upload: { status: "uploading" | "done" | "failed", name, size, sent, ref, error, array }

const uploads = new Map();
const listeners = new Set();
let lastId = 0;
let version = 0;

function changed() {
  version += 1;
  for (const listener of listeners) listener(version);
}

export const uploadOf = (id) => uploads.get(id);

/** Runs `work(progress)` (which resolves to a reference) as a tracked upload; returns its id. */
export function startUpload(file, work) {
  const id = `upload${++lastId}`;
  uploads.set(id, { status: "uploading", name: file.name, size: file.size, sent: 0, ref: null, error: null });
  const update = (change) => {
    uploads.set(id, { ...uploads.get(id), ...change });
    changed();
  };
  work((sent) => update({ sent }), update).then(
    (ref) => update({ status: "done", ref }),
    (error) => update({ status: "failed", error: error.message }),
  );
  changed();
  return id;
}

/** Calls `listener(version)` whenever an upload changes; returns the unsubscriber. */
export function onUploadsChanged(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
