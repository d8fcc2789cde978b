// One place that binds htm to preact, so views write `html\`<p>…</p>\``.
import { h, render, Fragment } from "preact";
import htm from "htm";

export { render, Fragment };
export const html = htm.bind(h);
