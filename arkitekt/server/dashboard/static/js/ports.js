// Ports on the page: what a form holds for each port (its draft), and how a draft becomes the
// JSON the API expects, checked against the port first so that bad input is marked at its field
// before anything is sent. The rules and messages follow the SDK's (arkitekt/runtime/ports.py).
//
// Drafts by kind:
//   INT, FLOAT, STRING, DATETIME   the text in the input ("" when empty)
//   BOOL                           true or false
//   ENUM                           the chosen choice's value ("" when none is chosen)
//   LIST                           [{ id, draft }]            one row per item
//   DICT                           [{ id, key, draft }]       one row per entry
//   MODEL                          { [fieldKey]: draft }      fields from the node's models
//   UNION                          { variant, drafts }        one draft per member, made when chosen
//   STRUCTURE                      { ref, upload }            a reference to central storage, or
//                                                             the id of an upload (uploads.js)
//   any other kind                 JSON text
// A nullable port wraps its draft: { on, inner }; off sends null. Inner drafts of nullable
// ports and union members are made only when needed, so models may refer to themselves.
//
// `models` maps a model's identifier to its definition ({ identifier, description, fields }):
// a MODEL port names its model, and the node lists each model once.

import { uploadOf } from "./uploads.js";

/** Structures the page can upload, by identifier: what the user picks for them. */
export const UPLOADABLE = { "@arkitekt/file": "file", "@arkitekt/array": "array" };

/** Whether `text` has the shape of a reference to central storage (a blob's id). */
export const isReference = (text) => /^[0-9a-f]{32}$/.test(text);

let lastId = 0;
export const rowId = () => `row${++lastId}`;

const STRUCTURE_NAMES = { "@arkitekt/array": "Array", "@arkitekt/file": "File" };
const SCALAR_NAMES = { INT: "int", FLOAT: "float", STRING: "str", BOOL: "bool", DATETIME: "datetime" };
export const TERMINAL = new Set(["DONE", "ERROR", "CRITICAL", "CANCELLED", "DISCONNECTED"]);

/** A short type, as a person would write it: `list[int] | None`. */
export function describe(port) {
  let text;
  switch (port.kind) {
    case "LIST":
      text = `list[${describe(port.children[0])}]`;
      break;
    case "DICT":
      text = `dict[str, ${describe(port.children[0])}]`;
      break;
    case "UNION":
      text = port.children.map(describe).join(" | ");
      break;
    case "ENUM":
      text = port.identifier || `Literal[${port.choices.map((c) => JSON.stringify(c.value)).join(", ")}]`;
      break;
    case "MODEL":
      text = port.identifier || "model";
      break;
    case "STRUCTURE":
      text = STRUCTURE_NAMES[port.identifier] ?? port.identifier ?? "structure";
      break;
    default:
      text = SCALAR_NAMES[port.kind] ?? port.kind.toLowerCase();
  }
  return port.nullable ? `${text} | None` : text;
}

/** A default as the SDK and the command line write it: `1.0`, `"HELLO"`, `[1, 2]`. */
export function formatDefault(port, value) {
  if (value === null || value === undefined) return "None";
  switch (port.kind) {
    case "FLOAT":
      return Number.isInteger(value) ? value.toFixed(1) : String(value);
    case "BOOL":
      return value ? "True" : "False";
    case "STRING":
    case "ENUM":
    case "DATETIME":
      return JSON.stringify(value);
    case "UNION":
      return port.children[value.use] ? formatDefault(port.children[value.use], value.value) : JSON.stringify(value);
    default:
      return JSON.stringify(value);
  }
}

/** `(a: int, b: int = 10) -> int` */
export function signature(node) {
  const args = node.args
    .map((p) => `${p.key}: ${describe(p)}${p.default != null ? ` = ${formatDefault(p, p.default)}` : ""}`)
    .join(", ");
  const returns = node.returns.map(describe);
  const result = returns.length === 0 ? "None" : returns.length === 1 ? returns[0] : `tuple[${returns.join(", ")}]`;
  return `(${args}) -> ${node.kind === "GENERATOR" ? `Iterator[${result}]` : result}`;
}

// --- bounds ---

/** The port's numeric bounds: { low, lowOpen, high, highOpen } (undefined when unbounded). */
export function bounds(port) {
  const c = port.constraints ?? {};
  const low = c.ge ?? c.gt ?? undefined;
  const high = c.le ?? c.lt ?? undefined;
  return { low, lowOpen: c.ge == null && c.gt != null, high, highOpen: c.le == null && c.lt != null };
}

const number = (n) => String(n);
/** A number as Python prints it: floats keep their `.0`, as in the SDK's messages. */
const repr = (port, n) => (port.kind === "FLOAT" && Number.isInteger(n) ? n.toFixed(1) : String(n));

/** "1 ≤ x ≤ 10", "> 0", "3–20 characters": a hint for the field. */
export function constraintHint(port) {
  const c = port.constraints ?? {};
  const parts = [];
  const { low, lowOpen, high, highOpen } = bounds(port);
  if (low != null && high != null) parts.push(`${number(low)} ${lowOpen ? "<" : "≤"} x ${highOpen ? "<" : "≤"} ${number(high)}`);
  else if (low != null) parts.push(`${lowOpen ? ">" : "≥"} ${number(low)}`);
  else if (high != null) parts.push(`${highOpen ? "<" : "≤"} ${number(high)}`);
  const unit = port.kind === "STRING" ? "characters" : "items";
  if (c.minLength != null && c.maxLength != null) parts.push(`${c.minLength}–${c.maxLength} ${unit}`);
  else if (c.minLength != null) parts.push(`at least ${c.minLength} ${unit}`);
  else if (c.maxLength != null) parts.push(`at most ${c.maxLength} ${unit}`);
  // A colour picker shows what its pattern would say.
  if (c.pattern != null && port.widget?.kind !== "COLOR") parts.push(`matches /${c.pattern}/`);
  return parts.join(", ");
}

// --- drafts from values (defaults, or a past call's arguments) ---

/** The model a MODEL port names, as a list of fields. */
export function fieldsOf(port, models) {
  return models?.get(port.identifier)?.fields ?? port.children ?? [];
}

/** Models by identifier, from a node's `models` list. */
export const modelsOf = (node) => new Map((node.models ?? []).map((m) => [m.identifier, m]));

/** The draft for a port, from a JSON value; `undefined` means "use the port's default". */
export function draftOf(port, value, models) {
  const given = value === undefined ? port.default : value;
  if (port.nullable) {
    const on = given != null;
    return { on, inner: on ? innerDraft(port, given, models) : null };
  }
  return innerDraft(port, given ?? undefined, models);
}

/** The draft of a nullable port once it is switched on. */
export function switchedOn(port, draft, models) {
  return { on: true, inner: draft.inner ?? innerDraft(port, undefined, models) };
}

function innerDraft(port, value, models) {
  switch (port.kind) {
    case "INT":
      return typeof value === "number" ? String(value) : "";
    case "FLOAT":
      return typeof value === "number" ? formatDefault(port, value) : "";
    case "STRING":
      return typeof value === "string" ? value : "";
    case "BOOL":
      return value === true;
    case "DATETIME":
      return typeof value === "string" ? localInputOf(value) : "";
    case "ENUM":
      return port.choices.some((c) => c.value === value) ? value : "";
    case "LIST":
      return (Array.isArray(value) ? value : []).map((item) => ({ id: rowId(), draft: draftOf(port.children[0], item, models) }));
    case "DICT":
      return Object.entries(isObject(value) ? value : {}).map(([key, item]) => ({
        id: rowId(),
        key,
        draft: draftOf(port.children[0], item, models),
      }));
    case "MODEL":
      return Object.fromEntries(
        fieldsOf(port, models).map((field) => [field.key, draftOf(field, isObject(value) ? value[field.key] : undefined, models)]),
      );
    case "UNION": {
      // On the wire: {"use": index, "value": ...}.
      const use = isObject(value) && Number.isInteger(value.use) && port.children[value.use] ? value.use : 0;
      const drafts = port.children.map(() => null);
      drafts[use] = draftOf(port.children[use], isObject(value) ? value.value : undefined, models);
      return { variant: use, drafts };
    }
    case "STRUCTURE":
      return { ref: typeof value === "string" ? value : "", upload: null };
    default:
      return value === undefined ? "" : JSON.stringify(value, null, 2);
  }
}

/** A union's draft with member `variant` chosen (its draft made on first use). */
export function chooseVariant(port, draft, variant, models) {
  const drafts = [...draft.drafts];
  drafts[variant] ??= draftOf(port.children[variant], undefined, models);
  return { variant, drafts };
}

const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

// --- date and time: the input shows local time; the wire carries ISO 8601 with an offset ---

const pad = (n, width = 2) => String(Math.trunc(Math.abs(n))).padStart(width, "0");

/** "2024-05-01T10:30:00" in local time, for <input type="datetime-local">. */
export function localInputOf(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/** ISO 8601 with the local offset: "2024-05-01T10:30:00+02:00". */
export function isoWithOffset(date) {
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const millis = date.getMilliseconds() ? `.${pad(date.getMilliseconds(), 3)}` : "";
  return `${localInputOf(date.toISOString())}${millis}${sign}${pad(offset / 60)}:${pad(offset % 60)}`;
}

/** "Europe/Berlin (UTC+02:00)" */
export function timezoneName(date = new Date()) {
  if (Number.isNaN(date.getTime())) date = new Date();
  const offset = -date.getTimezoneOffset();
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const utc = `UTC${offset >= 0 ? "+" : "-"}${pad(offset / 60)}:${pad(offset % 60)}`;
  return zone === "UTC" || zone === "Etc/UTC" ? utc : `${zone} (${utc})`;
}

// --- reading a draft: the value to send, or errors keyed by the field's path ---

const CONSTRAINED = new Set(["INT", "FLOAT", "STRING", "ENUM", "LIST", "DICT"]);
const INT_TEXT = /^[+-]?\d+$/;
const FLOAT_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Reads a draft against its port. Returns { ok, value, errors } where `errors` maps each
 * invalid field's path to its message (the same paths the widgets use as ids).
 */
export function read(port, draft, models, path = port.key) {
  const errors = {};
  const value = readInto(port, draft, path, errors, models);
  return { ok: Object.keys(errors).length === 0, value, errors };
}

/** Reads all of a node's arguments: { ok, value: args object, errors }. */
export function readArgs(ports, drafts, models) {
  const errors = {};
  const value = {};
  for (const port of ports) value[port.key] = readInto(port, drafts[port.key], port.key, errors, models);
  return { ok: Object.keys(errors).length === 0, value, errors };
}

function readInto(port, draft, path, errors, models) {
  if (port.nullable) {
    if (!draft.on) return null;
    draft = draft.inner;
  }
  const fail = (message) => {
    errors[path] = message;
    return undefined;
  };
  const value = readValue(port, draft, path, errors, fail, models);
  // Like the SDK, bounds apply to numbers, texts and collections: not to a date's text.
  const checked = CONSTRAINED.has(port.kind);
  if (checked && value !== undefined && !(path in errors)) {
    const problem = constraintProblem(port, value);
    if (problem) return fail(problem);
  }
  return value;
}

function readValue(port, draft, path, errors, fail, models) {
  switch (port.kind) {
    case "INT": {
      const text = draft.trim();
      if (!text) return fail("enter a whole number");
      if (!INT_TEXT.test(text)) return fail(`expected a whole number, got '${text}'`);
      const n = Number(text);
      if (!Number.isSafeInteger(n)) return fail("is too large to send exactly");
      return n;
    }
    case "FLOAT": {
      const text = draft.trim();
      if (!text) return fail("enter a number");
      if (!FLOAT_TEXT.test(text)) return fail(`expected a number, got '${text}'`);
      const n = Number(text);
      if (!Number.isFinite(n)) return fail("must be a finite number");
      return n;
    }
    case "STRING":
      return draft;
    case "BOOL":
      return draft === true;
    case "DATETIME": {
      if (!draft) return fail("pick a date and time");
      const date = new Date(draft); // a datetime-local value is read as local time
      if (Number.isNaN(date.getTime())) return fail(`expected a date and time, got '${draft}'`);
      return isoWithOffset(date);
    }
    case "ENUM":
      if (!port.choices.some((c) => c.value === draft)) {
        return fail(`choose one of ${port.choices.map((c) => c.label).join(", ")}`);
      }
      return draft;
    case "LIST":
      return draft.map((row, i) => readInto(port.children[0], row.draft, `${path}[${i}]`, errors, models));
    case "DICT": {
      const result = {};
      for (const row of draft) {
        const keyPath = `${path}{${row.id}}.key`;
        if (!row.key) errors[keyPath] = "enter a key";
        else if (Object.hasOwn(result, row.key)) errors[keyPath] = `the key '${row.key}' is already used`;
        result[row.key] = readInto(port.children[0], row.draft, `${path}{${row.id}}`, errors, models);
      }
      return result;
    }
    case "MODEL":
      return Object.fromEntries(
        fieldsOf(port, models).map((field) => [
          field.key,
          readInto(field, draft[field.key], `${path}.${field.key}`, errors, models),
        ]),
      );
    case "UNION": {
      const member = port.children[draft.variant];
      const value = readInto(member, draft.drafts[draft.variant], `${path}|${draft.variant}`, errors, models);
      return { use: draft.variant, value };
    }
    case "STRUCTURE": {
      const upload = draft.upload ? uploadOf(draft.upload) : null;
      if (upload?.status === "uploading") return fail("is still uploading");
      if (upload?.status === "failed") return fail(`upload failed: ${upload.error}`);
      const ref = upload?.ref ?? draft.ref;
      if (ref && UPLOADABLE[port.identifier] && !isReference(ref)) {
        return fail("a stored reference is 32 hexadecimal digits, as results and the Storage page show them");
      }
      if (ref) return ref;
      return fail(UPLOADABLE[port.identifier] ? "choose a file or give a stored reference" : `give a ${port.identifier ?? "structure"} reference`);
    }
    default: {
      const text = draft.trim();
      if (!text) return fail("enter a JSON value");
      try {
        return JSON.parse(text);
      } catch {
        return fail("must be valid JSON");
      }
    }
  }
}

function constraintProblem(port, value) {
  const c = port.constraints;
  if (!c) return null;
  if (typeof value === "number") {
    for (const [bound, holds, word] of [
      [c.gt, (v, b) => v > b, "greater than"],
      [c.ge, (v, b) => v >= b, "at least"],
      [c.lt, (v, b) => v < b, "less than"],
      [c.le, (v, b) => v <= b, "at most"],
    ]) {
      if (bound != null && !holds(value, bound)) return `must be ${word} ${number(bound)}, got ${repr(port, value)}`;
    }
  }
  if (typeof value === "string" || Array.isArray(value) || isObject(value)) {
    const size = typeof value === "string" ? [...value].length : Array.isArray(value) ? value.length : Object.keys(value).length;
    const unit = typeof value === "string" ? "characters" : "items";
    if (c.minLength != null && size < c.minLength) return `must have at least ${c.minLength} ${unit}, got ${size}`;
    if (c.maxLength != null && size > c.maxLength) return `must have at most ${c.maxLength} ${unit}, got ${size}`;
  }
  if (c.pattern != null && typeof value === "string") {
    let pattern = null;
    try {
      pattern = new RegExp(c.pattern, "u");
    } catch {
      // A Python-only pattern: the agent checks it.
    }
    if (pattern && !pattern.test(value)) return `must match the pattern '${c.pattern}', got '${value}'`;
  }
  return null;
}
