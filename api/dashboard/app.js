// The dashboard's entry point: sign-in, the header, and a router over the URL fragment.

import { ApiError, clearKey, getKey } from "./api.js";
import { jobPage, jobsPage } from "./jobs.js";
import { loginPage } from "./login.js";
import { modelPage, modelsPage } from "./models.js";
import { newJobPage } from "./newjob.js";
import { sweepPage, sweepsPage } from "./sweeps.js";
import { h } from "./ui.js";
import { workersPage } from "./workers.js";

const view = document.getElementById("view");
const nav = document.getElementById("nav");
const session = document.getElementById("session");
let cleanup = null;
let notice = null;

const ROUTES = [
  [/^#\/jobs\/new$/, "new", () => newJobPage],
  [/^#\/jobs\/([\w-]+)$/, "jobs", (m) => (root, ctx) => jobPage(root, ctx, m[1])],
  [/^#\/sweeps\/([\w-]+)$/, "sweeps", (m) => (root, ctx) => sweepPage(root, ctx, m[1])],
  [/^#\/sweeps\/?$/, "sweeps", () => sweepsPage],
  [/^#\/models\/([\w-]+)$/, "models", (m) => (root, ctx) => modelPage(root, ctx, m[1])],
  [/^#\/models\/?$/, "models", () => modelsPage],
  [/^#\/workers\/?$/, "workers", () => workersPage],
  [/^#\/jobs\/?(\?.*)?$/, "jobs", () => jobsPage],
];

function route() {
  const hash = location.hash || "#/jobs";
  for (const [pattern, section, make] of ROUTES) {
    const match = hash.match(pattern);
    if (match) return { section, page: make(match) };
  }
  return { section: "jobs", page: jobsPage };
}

/** Leave the current view, forget the key and show the sign-in page with an explanation. */
function signOut(message = null) {
  clearKey();
  notice = message;
  render();
}

function header(section) {
  const signedIn = Boolean(getKey());
  nav.replaceChildren(
    ...(signedIn
      ? [
          h("a", { href: "#/jobs", class: section === "jobs" ? "active" : null }, "Jobs"),
          h("a", { href: "#/sweeps", class: section === "sweeps" ? "active" : null }, "Sweeps"),
          h("a", { href: "#/models", class: section === "models" ? "active" : null }, "Models"),
          h("a", { href: "#/workers", class: section === "workers" ? "active" : null }, "Workers"),
          h(
            "a",
            {
              href: "#/jobs/new",
              class: `button button-primary button-small${section === "new" ? " active" : ""}`,
            },
            "New job",
          ),
        ]
      : []),
  );
  session.replaceChildren(
    ...(signedIn
      ? [
          h(
            "span",
            { class: "key-hint", title: "the API key this browser uses" },
            `key …${getKey().slice(-4)}`,
          ),
          h(
            "button",
            { class: "button button-ghost button-small", id: "sign-out", onclick: () => signOut() },
            "Sign out",
          ),
        ]
      : []),
  );
}

function render() {
  if (cleanup) cleanup();
  cleanup = null;
  view.replaceChildren();
  const ctx = {
    // Any 401 means the stored key no longer works: back to the sign-in page, saying why.
    fail(error) {
      if (error instanceof ApiError && error.status === 401) {
        signOut("Your API key was not accepted any more (unknown or revoked). Sign in again.");
        return true;
      }
      return false;
    },
    onSignedIn() {
      notice = null;
      render();
    },
  };
  if (!getKey()) {
    header(null);
    document.title = "Sign in · Reprogram";
    cleanup = loginPage(view, ctx, notice);
    return;
  }
  const { section, page } = route();
  header(section);
  cleanup = page(view, ctx) || null;
  window.scrollTo(0, 0);
}

window.addEventListener("hashchange", render);
render();
