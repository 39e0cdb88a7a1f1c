// Small DOM and formatting helpers shared by the views.

/** Build an element: h("a", {href: "#/"}, "text", child, ...). Text is never parsed as HTML. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "class") {
      node.className = value;
    } else if (value === true) {
      node.setAttribute(name, "");
    } else {
      node.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// Written by the server from its JobStatus enum (api/routes/dashboard.py).
export { ACTIVE, STATUSES } from "./statuses.js";

/** A coloured badge for a job status. */
export function statusBadge(status) {
  return h("span", { class: `badge badge-${status}`, "data-status": status }, status);
}

/** An error box: a title and the API's message (and the field it names). */
export function errorBox(error, title = "Something went wrong") {
  const field = error && error.field ? h("code", {}, error.field) : null;
  return h(
    "div",
    { class: "alert alert-error", role: "alert" },
    h("strong", {}, title),
    h("span", {}, (error && error.message) || String(error)),
    field ? h("span", { class: "alert-field" }, "field: ", field) : null,
  );
}

/** 0.8734 → "87.3%", or "—". */
export function percent(value) {
  return typeof value === "number" && Number.isFinite(value) ? `${(value * 100).toFixed(1)}%` : "—";
}

/** A number with a sensible number of digits, or "—". */
export function number(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "—";
  if (Number.isInteger(value)) return value.toLocaleString("en");
  return Math.abs(value) >= 100 ? value.toFixed(1) : value.toPrecision(4);
}

/** Seconds between two timestamps (the second defaulting to now) as "1h 2m", "3m 4s", "5s". */
export function duration(start, end) {
  if (!start) return "—";
  const seconds = Math.max(
    0,
    Math.round(((end ? Date.parse(end) : Date.now()) - Date.parse(start)) / 1000),
  );
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  if (hours) return `${hours}h ${minutes}m`;
  if (minutes) return `${minutes}m ${seconds % 60}s`;
  return `${seconds}s`;
}

/** A timestamp as "12 Nov, 14:03:22" in the browser's time zone. */
export function when(timestamp) {
  if (!timestamp) return "—";
  return new Date(timestamp).toLocaleString("en-GB", {
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

/** The time of day of a timestamp, "14:03:22". */
export function clock(timestamp) {
  return new Date(timestamp).toLocaleTimeString("en-GB");
}

/** The time until a timestamp: "<1 min left", "~3 min left", "~2 h 5 min left". */
export function countdown(timestamp) {
  const minutes = Math.round((Date.parse(timestamp) - Date.now()) / 60000);
  if (minutes < 1) return "<1 min left";
  if (minutes < 60) return `~${minutes} min left`;
  return `~${Math.floor(minutes / 60)} h ${minutes % 60} min left`;
}

/** A timestamp relative to now: "just now", "4 min ago", "3 h ago", or the date. */
export function ago(timestamp) {
  if (!timestamp) return "—";
  const seconds = (Date.now() - Date.parse(timestamp)) / 1000;
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return when(timestamp);
}

/** The name a spec's backbone goes by. */
export function backboneName(backbone) {
  if (!backbone) return "—";
  if (backbone.model_id) return `model ${backbone.model_id}`;
  if (backbone.artifact) return `artifact ${backbone.artifact}`;
  return backbone.name || "—";
}

/** The name a spec's dataset goes by: a built-in name, an upload's id or an object store uri. */
export function datasetName(dataset) {
  if (!dataset) return "—";
  return dataset.name || dataset.upload_id || dataset.uri || dataset.path || "—";
}

/** A labelled figure: a big value over a small caption. */
export function stat(label, value, attrs = {}) {
  return h(
    "div",
    { class: "stat", ...attrs },
    h("div", { class: "stat-value" }, value),
    h("div", { class: "stat-label" }, label),
  );
}

/** A card holding a table: a heading row of `columns` (those named in `numeric` right-aligned). */
export function tableCard(id, columns, numeric, body) {
  return h(
    "div",
    { class: "card table-card" },
    h(
      "table",
      { class: "table", id },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          columns.map((t) => h("th", { class: numeric.includes(t) ? "num" : null }, t)),
        ),
      ),
      body,
    ),
  );
}

/** A table row that opens `href` when clicked anywhere but on a link in it. */
export function clickableRow(href, attrs, ...cells) {
  const onclick = (e) => e.target.closest("a") || (location.hash = href);
  return h("tr", { class: "clickable", ...attrs, onclick }, ...cells);
}

/** A list's first cell: the item's name (or id) linking to `href`, its id below. */
export function nameCell(href, item) {
  return h(
    "td",
    {},
    h("a", { href, class: "strong" }, item.name || item.id),
    h("div", { class: "muted mono small" }, item.id),
  );
}

/** A table row across `columns` columns that says the table is empty. */
export function emptyRow(columns, ...children) {
  return h("tr", {}, h("td", { colspan: columns, class: "empty" }, ...children));
}

/** The page heading row: a back link, a title, a subtitle and actions on the right. */
export function pageHeader({ back, title, subtitle, actions = [] }) {
  return h(
    "header",
    { class: "page-header" },
    h(
      "div",
      {},
      back ? h("a", { class: "back", href: back.href }, `← ${back.label}`) : null,
      h("h1", {}, title),
      subtitle ? h("p", { class: "subtitle" }, subtitle) : null,
    ),
    h("div", { class: "actions" }, actions),
  );
}
