// Values rendered by their port's kind: scalars as text, models as their fields, unions as
// the member they hold, structures as what they hold (an image, a file), lists and dicts
// of structures item by item, other composites as JSON.

import { html } from "./html.js";
import { dateTime } from "./format.js";
import { describe, fieldsOf } from "./ports.js";
import { StructureValue } from "./structures.js";

const SHOWN_ITEMS = 24; // of a list or dict of structures, each fetched to be shown

const SCALARS = new Set(["INT", "FLOAT", "STRING", "BOOL", "DATETIME", "ENUM"]);

/** Whether every port holds a scalar, so that values fit in table cells. */
export const allScalar = (ports) => ports.length > 0 && ports.every((p) => SCALARS.has(p.kind));

/** A return port's name for people: its label, else its key unless that is just `returnN`. */
export const returnName = (port) => port.label || (/^return\d+$/.test(port.key) ? describe(port) : port.key);

/** One value, rendered by its port's kind; `models` are the node's, by identifier. */
export function Value({ port, value, models }) {
  if (value === null || value === undefined) return html`<span class="value none">None</span>`;
  switch (port?.kind) {
    case "INT":
    case "FLOAT":
      return html`<span class="value number">${String(value)}</span>`;
    case "BOOL":
      return html`<span class="value">${value ? "True" : "False"}</span>`;
    case "STRING":
      return value.includes("\n") || value.length > 120
        ? html`<pre class="value text">${value}</pre>`
        : html`<span class="value text">${value}</span>`;
    case "DATETIME":
      return html`<time class="value" datetime=${value} title=${value}>${dateTime(value)}</time>`;
    case "ENUM": {
      const choice = port.choices?.find((c) => c.value === value);
      return html`<span class="value">${choice?.label ?? String(value)}</span>`;
    }
    case "UNION": {
      const member = port.children?.[value?.use];
      return member ? html`<${Value} port=${member} value=${value.value} models=${models} />` : html`<pre class="value json">${JSON.stringify(value, null, 2)}</pre>`;
    }
    case "MODEL": {
      const fields = fieldsOf(port, models);
      return html`<div class="value model-value">
        <span class="muted small">${port.identifier}</span>
        <${Values} ports=${fields} values=${fields.map((f) => value[f.key])} models=${models} single=${null} />
      </div>`;
    }
    case "STRUCTURE":
      return html`<${StructureValue} port=${port} value=${value} />`;
    case "LIST":
    case "DICT": {
      const item = port.children?.[0];
      if (!holdsStructures(item, models) || typeof value !== "object") break;
      const entries = Array.isArray(value) ? value.map((v, i) => [String(i + 1), v]) : Object.entries(value);
      const more = entries.length - SHOWN_ITEMS;
      return html`<dl class="value items">
        ${entries.slice(0, SHOWN_ITEMS).map(
          ([key, v]) => html`<div class="item" key=${key}>
            <dt class="muted small">${key}</dt>
            <dd><${Value} port=${item} value=${v} models=${models} /></dd>
          </div>`,
        )}
        ${more > 0 && html`<p class="muted small">…and ${more} more.</p>`}
      </dl>`;
    }
  }
  return html`<pre class="value json">${JSON.stringify(value, null, 2)}</pre>`;
}

/** Whether values of a port may hold structures, which show as what they hold. */
function holdsStructures(port, models, seen = new Set()) {
  if (!port) return false;
  if (port.kind === "STRUCTURE") return true;
  if (port.kind === "MODEL") {
    if (seen.has(port.identifier)) return false;
    seen.add(port.identifier);
  }
  const children = port.kind === "MODEL" ? fieldsOf(port, models) : port.children ?? [];
  return children.some((child) => holdsStructures(child, models, seen));
}

/** The values of one YIELD (or a call's arguments): one row per port, with a note beside
 * the ports `notes` names (by index). */
export function Values({ ports, values, models, single = "result", notes = [] }) {
  if (ports.length === 0) return html`<span class="value none">None</span>`;
  if (ports.length === 1 && single) {
    return html`<div class="values one"><${Value} port=${ports[0]} value=${values[0]} models=${models} /></div>`;
  }
  return html`
    <dl class="values">
      ${ports.map(
        (port, i) => html`
          <div class=${SCALARS.has(port.kind) ? "pair" : "pair wide"}>
            <dt>
              ${port.label || port.key} <code class="field-type">${describe(port)}</code>
              ${notes[i] && html` <span class="muted small">${notes[i]}</span>`}
            </dt>
            <dd><${Value} port=${port} value=${values[i]} models=${models} /></dd>
          </div>`,
      )}
    </dl>`;
}

/** A call's arguments, keyed by port, rendered by kind. One the caller left out shows the
 * default the function got. */
export function Arguments({ ports, args, models }) {
  const given = (port) => args != null && port.key in args;
  const values = ports.map((p) => (given(p) ? args[p.key] : p.default ?? null));
  const notes = ports.map((p) => (!given(p) && p.default != null ? "default" : null));
  return html`<${Values} ports=${ports} values=${values} models=${models} single=${null} notes=${notes} />`;
}

/** Results whose values are all scalars, one row per yield (see `fold`), newest last. */
export function ResultTable({ ports, events, numbered }) {
  return html`
    <div class="result-table">
      <table class="table compact">
        <thead>
          <tr>
            ${numbered && html`<th scope="col" class="index">#</th>`}
            ${ports.map((port) => html`<th scope="col">${returnName(port)}</th>`)}
          </tr>
        </thead>
        <tbody>
          ${events.map(
            (event) => html`
              <tr key=${event.ordinal} class="yield-row">
                ${numbered && html`<td class="index">${event.ordinal}</td>`}
                ${ports.map((port, j) => html`<td><${Value} port=${port} value=${event.returns?.[j]} /></td>`)}
              </tr>`,
          )}
        </tbody>
      </table>
    </div>`;
}
