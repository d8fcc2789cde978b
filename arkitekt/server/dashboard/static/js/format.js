// Small pieces of presentation shared by the views: times, statuses, agents.

import { html } from "./html.js";

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

export const clock = (iso) => (iso ? timeFormat.format(new Date(iso)) : "");
export const dateTime = (iso) => (iso ? dateTimeFormat.format(new Date(iso)) : "");

/** "3 minutes ago" */
export function ago(iso, now = Date.now()) {
  if (!iso) return "";
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const steps = [
    [60, "second"],
    [60, "minute"],
    [24, "hour"],
    [30, "day"],
    [12, "month"],
  ];
  let value = seconds;
  for (const [size, unit] of steps) {
    if (Math.abs(value) < size) return relative.format(Math.trunc(value), unit);
    value /= size;
  }
  return relative.format(Math.trunc(value), "year");
}

/** "1.2 s", "340 ms" */
export function duration(fromIso, toIso) {
  const millis = new Date(toIso).getTime() - new Date(fromIso).getTime();
  if (!Number.isFinite(millis) || millis < 0) return "";
  if (millis < 1000) return `${millis} ms`;
  if (millis < 60_000) return `${(millis / 1000).toFixed(1)} s`;
  const seconds = Math.round(millis / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

const TONE = {
  QUEUED: "neutral",
  ASSIGNED: "info",
  RUNNING: "info",
  CANCELLING: "warn",
  DONE: "ok",
  ERROR: "bad",
  CRITICAL: "bad",
  CANCELLED: "warn",
  DISCONNECTED: "bad",
  CONNECTED: "ok",
  ACTIVE: "ok",
  WAITING: "warn",
  ENDED: "neutral",
  STARTING: "info",
  CRASHED: "bad",
  STOPPING: "warn",
  STOPPED: "neutral",
};

/** A status as a coloured pill, readable as text by screen readers. */
export function Status({ status }) {
  return html`<span class=${`pill ${TONE[status] ?? "neutral"}`} data-status=${status}>${status.toLowerCase()}</span>`;
}

/** "microscope-1 (a3f9…)" : an agent's name, with its instance when several share it. */
export function agentName(agent) {
  return agent ? `${agent.name}${agent.hostname ? ` on ${agent.hostname}` : ""}` : "";
}

export const shortHash = (hash) => (hash ? hash.slice(0, 10) : "");

/** "1.2 MB" */
export function bytes(n) {
  if (n == null) return "";
  const units = ["bytes", "kB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${value} ${units[0]}` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
