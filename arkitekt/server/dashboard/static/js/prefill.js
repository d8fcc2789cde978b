// Arguments handed from a past call to the function's form ("Run again"), kept in memory so
// that they never appear in a URL.

const pending = new Map();

export function prefill(nodeId, args) {
  pending.set(nodeId, args);
}

/** The arguments waiting for this node's form, once. */
export function takePrefill(nodeId) {
  const args = pending.get(nodeId);
  pending.delete(nodeId);
  return args;
}
