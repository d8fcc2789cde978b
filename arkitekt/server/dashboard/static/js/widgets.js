// Input widgets, generated from the port tree: each kind has its widget, composite kinds nest
// the widgets of their children, and a kind this page does not know yet falls back to a JSON
// editor, so a port of a new kind still renders.
//
//   Field   a port with its heading (label, type, bounds), its help text and its error
//   Slot    the value part: the toggle of a nullable port, the widget, the error below it
//   Widget  the input(s) for one kind

import { html } from "./html.js";
import {
  bounds,
  chooseVariant,
  constraintHint,
  describe,
  draftOf,
  fieldsOf,
  isoWithOffset,
  localInputOf,
  rowId,
  switchedOn,
  timezoneName,
  UPLOADABLE,
} from "./ports.js";
import { AddFiles, StructureWidget as StructureInput } from "./structures.js";

/** A DOM id for a draft path such as `sizes[0]` or `tags{row3}.key`. */
export const fieldId = (path) => `arg-${path.replace(/[^A-Za-z0-9_-]+/g, "-")}`;

const GROUP_KINDS = new Set(["LIST", "DICT", "MODEL", "UNION"]);
const LONG_TEXT_KEYS = /(^|_)(text|notes|description|body|content|script|code|markdown|prompt|template)$/i;

function isLongText(port, draft) {
  const max = port.constraints?.maxLength;
  return (max != null && max > 200) || LONG_TEXT_KEYS.test(port.key) || (typeof draft === "string" && draft.includes("\n"));
}

/**
 * A port with its heading, help text and error. `ctx` carries the node's models, the form's
 * errors, which of them to show (`shown(path)`), and `touch(path)` for fields the user has left.
 */
export function Field({ port, path, draft, onChange, ctx }) {
  const id = fieldId(path);
  const label = port.label || port.key;
  const hint = constraintHint(port);
  const group = GROUP_KINDS.has(port.kind);
  const describedBy = port.description ? `${id}-help` : undefined;
  const LabelTag = group ? "span" : "label";
  return html`
    <div class="field" data-port=${port.key} data-kind=${port.kind}>
      <div class="field-head">
        <${LabelTag} class="field-label" id=${`${id}-label`} for=${group ? undefined : id}>${label}</${LabelTag}>
        <code class="field-type">${describe(port)}</code>
        ${hint && html`<span class="field-hint">${hint}</span>`}
      </div>
      ${port.description && html`<p class="help" id=${`${id}-help`}>${port.description}</p>`}
      <${Slot} port=${port} path=${path} draft=${draft} onChange=${onChange} ctx=${ctx} label=${label} labelledBy=${`${id}-label`} describedBy=${describedBy} />
    </div>
  `;
}

/** The value part of a port: its nullable toggle, its widget and the error at its path. */
export function Slot({ port, path, draft, onChange, ctx, label, labelledBy, describedBy }) {
  const id = fieldId(path);
  const error = ctx.shown(path) ? ctx.errors[path] : undefined;
  const errorId = error ? `${id}-error` : undefined;
  const described = [describedBy, errorId].filter(Boolean).join(" ") || undefined;
  const common = { port, path, id, label, labelledBy, ctx, invalid: Boolean(error), describedBy: described };
  let body;
  if (port.nullable) {
    const toggle = html`
      <label class="switch">
        <input type="checkbox" role="switch" checked=${draft.on} aria-label=${`Give ${label} a value`}
          onChange=${(e) => onChange(e.currentTarget.checked ? switchedOn(port, draft, ctx.models) : { ...draft, on: false })} />
        <span class="switch-track" aria-hidden="true"></span>
        <span class="switch-text">${draft.on ? "set" : "None"}</span>
      </label>`;
    body = html`
      <div class="optional">
        <div class="optional-head">
          ${toggle}
          ${!draft.on && html`<span class="muted small">· the function gets None</span>`}
        </div>
        ${draft.on &&
        html`<div class="optional-body"><${Widget} ...${common} draft=${draft.inner} onChange=${(inner) => onChange({ ...draft, inner })} /></div>`}
      </div>`;
  } else {
    body = html`<${Widget} ...${common} draft=${draft} onChange=${onChange} />`;
  }
  return html`
    <div class="slot">
      ${body}
      ${error && html`<p class="error" id=${errorId}>${error}</p>`}
    </div>`;
}

/** The inputs for one kind. */
export function Widget(props) {
  switch (props.port.kind) {
    case "INT":
    case "FLOAT":
      return html`<${NumberWidget} ...${props} />`;
    case "STRING":
      return html`<${TextWidget} ...${props} />`;
    case "BOOL":
      return html`<${BoolWidget} ...${props} />`;
    case "DATETIME":
      return html`<${DateTimeWidget} ...${props} />`;
    case "ENUM":
      return html`<${EnumWidget} ...${props} />`;
    case "LIST":
      return html`<${ListWidget} ...${props} />`;
    case "DICT":
      return html`<${DictWidget} ...${props} />`;
    case "MODEL":
      return html`<${ModelWidget} ...${props} />`;
    case "UNION":
      return html`<${UnionWidget} ...${props} />`;
    case "STRUCTURE":
      return html`<${StructureWidget} ...${props} />`;
    default:
      return html`<${JsonWidget} ...${props} />`;
  }
}

/** Attributes every input shares: its id, its accessible name, its error state. */
function inputAttributes({ id, label, labelledBy, invalid, describedBy, path, ctx }) {
  return {
    id,
    "aria-labelledby": labelledBy,
    "aria-label": labelledBy ? undefined : label,
    "aria-invalid": invalid ? "true" : undefined,
    "aria-describedby": describedBy,
    onBlur: () => ctx.touch(path),
  };
}

function NumberWidget(props) {
  const { port, draft, onChange } = props;
  const integer = port.kind === "INT";
  const { low, lowOpen, high, highOpen } = bounds(port);
  const step = port.widget?.step ?? (integer ? 1 : "any");
  const onKeyDown = (event) => {
    // Arrow keys step whole numbers, as a number input would.
    if (!integer || (event.key !== "ArrowUp" && event.key !== "ArrowDown")) return;
    const current = Number.parseInt(draft || "0", 10);
    if (Number.isNaN(current)) return;
    event.preventDefault();
    let next = current + (event.key === "ArrowUp" ? 1 : -1);
    if (low != null) next = Math.max(next, lowOpen ? Math.floor(low) + 1 : Math.ceil(low));
    if (high != null) next = Math.min(next, highOpen ? Math.ceil(high) - 1 : Math.floor(high));
    onChange(String(next));
  };
  const text = html`
    <input class="number" type="text" inputmode=${integer ? "numeric" : "decimal"} autocomplete="off"
      spellcheck=${false} value=${draft} ...${inputAttributes(props)}
      onInput=${(e) => onChange(e.currentTarget.value)} onKeyDown=${onKeyDown} />`;
  if (low == null || high == null) return text;
  // Both bounds: a slider beside the exact value.
  const min = integer && lowOpen ? Math.floor(low) + 1 : low;
  const max = integer && highOpen ? Math.ceil(high) - 1 : high;
  const parsed = Number(draft);
  const position = draft !== "" && Number.isFinite(parsed) ? Math.min(max, Math.max(min, parsed)) : min;
  return html`
    <div class="slider">
      <input type="range" min=${min} max=${max} step=${step} value=${position}
        aria-label=${`${props.label} slider`} aria-valuetext=${draft || undefined}
        onInput=${(e) => onChange(e.currentTarget.value)} onBlur=${() => props.ctx.touch(props.path)} />
      ${text}
    </div>`;
}

function TextWidget(props) {
  const { port, draft, onChange } = props;
  const widget = port.widget ?? {};
  if (widget.kind === "COLOR") return html`<${ColorWidget} ...${props} />`;
  const attributes = {
    ...inputAttributes(props),
    value: draft,
    spellcheck: false,
    placeholder: widget.placeholder ?? undefined,
    onInput: (e) => onChange(e.currentTarget.value),
  };
  // The author's widget decides; without one, long text by its key or its content.
  if (widget.kind === "PARAGRAPH" || (!widget.kind && isLongText(port, draft))) {
    return html`<textarea rows=${widget.rows ?? 3} ...${attributes}></textarea>`;
  }
  return html`<input type="text" autocomplete="off" ...${attributes} />`;
}

/** A colour picker beside the exact `#rrggbb`, which may be typed too. */
function ColorWidget(props) {
  const { draft, onChange } = props;
  const picked = /^#[0-9a-fA-F]{6}$/.test(draft) ? draft.toLowerCase() : "#000000";
  return html`
    <div class="color">
      <input type="color" value=${picked} aria-label=${`${props.label} picker`}
        onInput=${(e) => onChange(e.currentTarget.value)} onBlur=${() => props.ctx.touch(props.path)} />
      <input type="text" class="number mono" autocomplete="off" spellcheck=${false} value=${draft}
        ...${inputAttributes(props)} onInput=${(e) => onChange(e.currentTarget.value)} />
    </div>`;
}

function BoolWidget(props) {
  const { draft, onChange } = props;
  return html`
    <label class="check">
      <input type="checkbox" checked=${draft} ...${inputAttributes(props)}
        onChange=${(e) => onChange(e.currentTarget.checked)} />
      <span aria-hidden="true">${draft ? "True" : "False"}</span>
    </label>`;
}

function DateTimeWidget(props) {
  const { draft, onChange } = props;
  return html`
    <div class="datetime">
      <input type="datetime-local" step="1" value=${draft} ...${inputAttributes(props)}
        onInput=${(e) => onChange(e.currentTarget.value)} />
      <button type="button" class="button subtle small" aria-label=${`Set ${props.label} to now`}
        onClick=${() => onChange(localInputOf(isoWithOffset(new Date())))}>Now</button>
      <span class="muted small">${timezoneName(draft ? new Date(draft) : new Date())}</span>
    </div>`;
}

function EnumWidget(props) {
  const { port, draft, onChange } = props;
  const chosen = port.choices.find((c) => c.value === draft);
  return html`
    <div class="enum">
      <select ...${inputAttributes(props)} onChange=${(e) => onChange(e.currentTarget.value)}>
        ${!chosen && html`<option value="" selected disabled>Choose…</option>`}
        ${port.choices.map(
          (c) => html`<option value=${c.value} selected=${c.value === draft} title=${c.description ?? undefined}>${c.label}</option>`,
        )}
      </select>
      ${chosen?.description && html`<span class="muted small">${chosen.description}</span>`}
    </div>`;
}

function ListWidget(props) {
  const { port, path, draft, onChange, ctx, label, labelledBy, describedBy } = props;
  const item = port.children[0];
  const update = (i, next) => onChange(draft.map((row, j) => (j === i ? { ...row, draft: next } : row)));
  const remove = (i) => onChange(draft.filter((_, j) => j !== i));
  const add = () => onChange([...draft, { id: rowId(), draft: draftOf(item, undefined, ctx.models) }]);
  // A z-stack, a plate's wells: a list of files or arrays takes many files in one pick.
  const files = item.kind === "STRUCTURE" && !item.nullable && UPLOADABLE[item.identifier];
  const picked = (drafts) => onChange([...draft, ...drafts.map((next) => ({ id: rowId(), draft: next }))]);
  return html`
    <div class="rows" role="group" id=${props.id} aria-labelledby=${labelledBy} aria-label=${labelledBy ? undefined : label}
      aria-describedby=${describedBy}>
      ${draft.length === 0 && html`<p class="muted small empty-rows">No items.</p>`}
      ${draft.map(
        (row, i) => html`
          <div class="row" key=${row.id}>
            <span class="row-index" aria-hidden="true">${i + 1}</span>
            <div class="row-body">
              <${Slot} port=${item} path=${`${path}[${i}]`} draft=${row.draft} ctx=${ctx}
                label=${`${label} item ${i + 1}`} onChange=${(next) => update(i, next)} />
            </div>
            <button type="button" class="icon-button" aria-label=${`Remove ${label} item ${i + 1}`} title="Remove"
              onClick=${() => remove(i)}>×</button>
          </div>`,
      )}
      <div class="row-actions">
        <button type="button" class="button subtle small add" onClick=${add}>+ Add item</button>
        ${files && html`<${AddFiles} kind=${files} label=${label} onPick=${picked} />`}
      </div>
    </div>`;
}

function DictWidget(props) {
  const { port, path, draft, onChange, ctx, label, labelledBy, describedBy } = props;
  const entry = port.children[0];
  const update = (i, change) => onChange(draft.map((row, j) => (j === i ? { ...row, ...change } : row)));
  const remove = (i) => onChange(draft.filter((_, j) => j !== i));
  const add = () => onChange([...draft, { id: rowId(), key: "", draft: draftOf(entry, undefined, ctx.models) }]);
  return html`
    <div class="rows" role="group" id=${props.id} aria-labelledby=${labelledBy} aria-label=${labelledBy ? undefined : label}
      aria-describedby=${describedBy}>
      ${draft.length === 0 && html`<p class="muted small empty-rows">No entries.</p>`}
      ${draft.map((row, i) => {
        const keyPath = `${path}{${row.id}}.key`;
        const keyError = ctx.shown(keyPath) ? ctx.errors[keyPath] : undefined;
        return html`
          <div class="row entry" key=${row.id}>
            <div class="entry-key">
              <input type="text" class="key" placeholder="key" value=${row.key} autocomplete="off" spellcheck=${false}
                id=${fieldId(keyPath)} aria-label=${`${label} key ${i + 1}`} aria-invalid=${keyError ? "true" : undefined}
                onInput=${(e) => update(i, { key: e.currentTarget.value })} onBlur=${() => ctx.touch(keyPath)} />
              ${keyError && html`<p class="error">${keyError}</p>`}
            </div>
            <div class="row-body">
              <${Slot} port=${entry} path=${`${path}{${row.id}}`} draft=${row.draft} ctx=${ctx}
                label=${`${label} value ${i + 1}`} onChange=${(next) => update(i, { draft: next })} />
            </div>
            <button type="button" class="icon-button" aria-label=${`Remove ${label} entry ${i + 1}`} title="Remove"
              onClick=${() => remove(i)}>×</button>
          </div>`;
      })}
      <button type="button" class="button subtle small add" onClick=${add}>+ Add entry</button>
    </div>`;
}

function ModelWidget(props) {
  const { port, path, draft, onChange, ctx, label, labelledBy, describedBy } = props;
  const model = ctx.models?.get(port.identifier);
  return html`
    <fieldset class="model" id=${props.id} aria-labelledby=${labelledBy} aria-label=${labelledBy ? undefined : label}
      aria-describedby=${describedBy}>
      ${!labelledBy && html`<legend>${port.identifier ?? label}</legend>`}
      ${model?.description && html`<p class="help">${model.description}</p>`}
      ${fieldsOf(port, ctx.models).map(
        (child) => html`
          <${Field} key=${child.key} port=${child} path=${`${path}.${child.key}`} draft=${draft[child.key]} ctx=${ctx}
            onChange=${(next) => onChange({ ...draft, [child.key]: next })} />`,
      )}
    </fieldset>`;
}

function UnionWidget(props) {
  const { port, path, draft, onChange, ctx, label, labelledBy } = props;
  const variant = port.children[draft.variant];
  const name = `${fieldId(path)}-variant`;
  return html`
    <div class="union" role="group" id=${props.id} aria-labelledby=${labelledBy} aria-label=${labelledBy ? undefined : label}>
      <div class="segmented" role="radiogroup" aria-label=${`${label}: which type`}>
        ${port.children.map(
          (child, i) => html`
            <label class=${i === draft.variant ? "segment active" : "segment"}>
              <input type="radio" name=${name} value=${i} checked=${i === draft.variant}
                onChange=${() => onChange(chooseVariant(port, draft, i, ctx.models))} />
              ${describe(child)}
            </label>`,
        )}
      </div>
      <${Slot} port=${variant} path=${`${path}|${draft.variant}`} draft=${draft.drafts[draft.variant]} ctx=${ctx}
        label=${`${label} (${describe(variant)})`}
        onChange=${(next) => onChange({ ...draft, drafts: draft.drafts.map((d, i) => (i === draft.variant ? next : d)) })} />
    </div>`;
}

function StructureWidget(props) {
  return html`<${StructureInput} ...${props} attributes=${inputAttributes(props)} />`;
}

function JsonWidget(props) {
  const { draft, onChange } = props;
  return html`
    <textarea class="json" rows="3" spellcheck=${false} placeholder="JSON" value=${draft} ...${inputAttributes(props)}
      onInput=${(e) => onChange(e.currentTarget.value)}></textarea>`;
}
