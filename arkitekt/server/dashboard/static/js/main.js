// The dashboard's shell: sign-in, navigation and the route to the current view.
//
//   #/functions            the team's functions          #/agents              the agents
//   #/functions/<id>       one function: its form, runs  #/assignations        your calls
//   #/deployments          releases running on hosts     #/assignations/<id>   one call
//   #/reservations         your reservations
//   #/storage              your blobs

import { useEffect, useErrorBoundary, useState } from "preact/hooks";
import { html, render } from "./html.js";
import { onConnectionState, request, session } from "./api.js";
import { ME } from "./queries.js";
import { onStorageChanged } from "./storage.js";
import { bytes } from "./format.js";
import { FunctionsPage } from "./views/functions.js";
import { FunctionPage } from "./views/function.js";
import { AgentsPage } from "./views/agents.js";
import { AssignationPage, AssignationsPage } from "./views/assignations.js";
import { DeploymentsPage } from "./views/deployments.js";
import { ReservationsPage } from "./views/reservations.js";
import { BlobsPage } from "./views/blobs.js";

function parseRoute(hash) {
  const [section, id] = hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  return { section: section || "functions", id };
}

function useRoute() {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const changed = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return route;
}

function App() {
  const [user, setUser] = useState(undefined); // undefined: checking; null: signed out
  useEffect(() => session.onSignOut(() => setUser(null)), []);
  useEffect(() => {
    if (!session.token) {
      setUser(null);
      return;
    }
    request(ME).then(
      (data) => setUser(data.me),
      () => setUser(null),
    );
  }, []);
  if (user === undefined) return html`<p class="boot">Loading the dashboard…</p>`;
  if (user === null) return html`<${SignIn} onSignedIn=${setUser} />`;
  return html`<${Shell} user=${user} />`;
}

function SignIn({ onSignedIn }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    const value = token.trim();
    if (!value) {
      setError("Paste your token to sign in.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const data = await request(ME, {}, value);
      session.signIn(value);
      onSignedIn(data.me);
    } catch (failure) {
      setError(failure.code === "UNAUTHENTICATED" ? "This token was not accepted. Check it and try again." : failure.message);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <main class="signin">
      <form class="card signin-card" onSubmit=${submit} novalidate>
        <div class="brand large"><${Logo} /> arkitekt</div>
        <h1>Sign in</h1>
        <p class="muted">Use a token of this platform. <code>arkitekt server</code> prints one when it first starts and saves it in its config file (<code>~/.config/arkitekt/config.json</code>).</p>
        <label class="field-label" for="token">Token</label>
        <input id="token" type="password" autocomplete="current-password" spellcheck=${false} placeholder="ark_…" value=${token}
          aria-invalid=${error ? "true" : undefined} aria-describedby=${error ? "token-error" : undefined}
          onInput=${(e) => setToken(e.currentTarget.value)} />
        ${error && html`<p class="error" id="token-error" role="alert">${error}</p>`}
        <button type="submit" class="button primary wide" disabled=${busy}>${busy ? "Signing in…" : "Sign in"}</button>
        <p class="muted small">The token stays in this browser tab's session storage and is forgotten when the tab closes.</p>
      </form>
    </main>`;
}

const SECTIONS = [
  ["functions", "Functions"],
  ["agents", "Agents"],
  ["assignations", "Assignations"],
  ["reservations", "Reservations"],
  ["deployments", "Deployments"],
  ["storage", "Storage"],
];

function Shell({ user }) {
  const route = useRoute();
  const [connection, setConnection] = useState("idle");
  const [stored, setStored] = useState(user.storedBytes);
  useEffect(() => onConnectionState(setConnection), []);
  const [storageChanged, setStorageChanged] = useState(0);
  useEffect(() => onStorageChanged(() => setStorageChanged((n) => n + 1)), []);
  useEffect(() => {
    // What your blobs hold changes as calls run: read it again on each page.
    request(ME).then((data) => setStored(data.me.storedBytes), () => {});
  }, [route.section, route.id, storageChanged]);
  useEffect(() => {
    const view = SECTIONS.find(([key]) => key === route.section)?.[1] ?? "arkitekt";
    document.title = `${view} · arkitekt`;
  }, [route.section]);
  return html`
    <div class="shell">
      <a class="skip" href="#content">Skip to content</a>
      <header class="sidebar">
        <a class="brand" href="#/functions"><${Logo} /> arkitekt</a>
        <nav aria-label="Sections">
          <ul>
            ${SECTIONS.map(
              ([key, label]) => html`
                <li key=${key}>
                  <a href=${`#/${key}`} aria-current=${route.section === key ? "page" : undefined}>${label}</a>
                </li>`,
            )}
          </ul>
        </nav>
        <div class="who">
          <span class=${`connection ${connection}`} title="Live updates" role="status">
            <span class="dot" aria-hidden="true"></span>${CONNECTION[connection]}
          </span>
          <span class="user">${user.name}</span>
          ${stored != null && html`<a class="stored" href="#/storage" title="What your blobs hold in the platform's storage">${bytes(stored)} stored</a>`}
          <button type="button" class="button subtle small" onClick=${() => session.signOut()}>Sign out</button>
        </div>
      </header>
      <main id="content" tabindex="-1">
        <${Guard} key=${`${route.section}/${route.id ?? ""}`}><${View} route=${route} /></${Guard}>
      </main>
    </div>`;
}

const CONNECTION = { idle: "ready", connecting: "connecting…", live: "live", retrying: "reconnecting…" };

/** Keeps a failing view from blanking the whole dashboard: it says what broke, in place. */
function Guard({ children }) {
  const [error, reset] = useErrorBoundary();
  if (!error) return children;
  return html`
    <div class="page">
      <h1>This page failed</h1>
      <p class="error">${String(error.message ?? error)}</p>
      <p><button type="button" class="button subtle small" onClick=${reset}>Try again</button></p>
    </div>`;
}

function View({ route }) {
  switch (route.section) {
    case "functions":
      return route.id ? html`<${FunctionPage} key=${route.id} id=${route.id} />` : html`<${FunctionsPage} />`;
    case "agents":
      return html`<${AgentsPage} />`;
    case "assignations":
      return route.id ? html`<${AssignationPage} key=${route.id} id=${route.id} />` : html`<${AssignationsPage} />`;
    case "reservations":
      return html`<${ReservationsPage} />`;
    case "storage":
      return html`<${BlobsPage} />`;
    case "deployments":
      return html`<${DeploymentsPage} />`;
    default:
      return html`<div class="page"><h1>Not found</h1><p><a href="#/functions">Back to the functions</a></p></div>`;
  }
}

function Logo() {
  return html`
    <svg class="logo" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
      <path d="M12 2 21 7v10l-9 5-9-5V7z" fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round" />
      <path d="M12 7 16.5 9.5v5L12 17l-4.5-2.5v-5z" fill="currentColor" />
    </svg>`;
}

const root = document.getElementById("app");
root.textContent = ""; // the loading note
render(html`<${App} />`, root);
