// The sweeps list and a sweep's page: its trials (each a job), the best-so-far curve, the
// promoted model and its test accuracy, pause, resume and cancel. A sweep has no event stream:
// its page polls until it ends.

import { pauseButton, postButton } from "./actions.js";
import { request } from "./api.js";
import { lineChart } from "./chart.js";
import { pagedTable } from "./lists.js";
import {
  ago,
  clickableRow,
  duration,
  emptyRow,
  errorBox,
  h,
  nameCell,
  pageHeader,
  percent,
  stat,
  statusBadge,
  when,
} from "./ui.js";

const REFRESH_MS = 3000;
const ENDED = ["complete", "pruned", "fail"]; // the states a trial ends in
const GOING = ["running", "paused"]; // a sweep's statuses before it ends

function modelLink(modelId, attrs = {}) {
  return modelId
    ? h("a", { href: `#/models/${modelId}`, class: "mono small", ...attrs }, modelId)
    : "—";
}

function sweepRow(sweep) {
  const href = `#/sweeps/${sweep.id}`;
  const budget = (sweep.spec && sweep.spec.budget) || {};
  return clickableRow(
    href,
    { "data-sweep-id": sweep.id },
    nameCell(href, sweep),
    h("td", {}, statusBadge(sweep.status)),
    h("td", { class: "num" }, budget.trials ?? "—"),
    h("td", { class: "num" }, percent(sweep.best_value)),
    h("td", { class: "num" }, percent(sweep.test_accuracy)),
    h("td", {}, modelLink(sweep.model_id)),
    h("td", { class: "muted", title: when(sweep.created_at) }, ago(sweep.created_at)),
  );
}

/** The caller's sweeps, newest first, with "load more"; refreshed while one runs. */
export function sweepsPage(root, ctx) {
  document.title = "Sweeps · Reprogram";
  const list = pagedTable(ctx, {
    id: "sweeps-table",
    path: "/v1/sweeps",
    columns: ["Sweep", "Status", "Trials", "Best val acc", "Test acc", "Model", "Created"],
    numeric: ["Trials", "Best val acc", "Test acc"],
    row: sweepRow,
    empty: () => [
      "No sweeps yet. Start one with POST /v1/sweeps or ",
      h("code", {}, "reprogram sweeps create"),
      ".",
    ],
    refreshWhile: GOING,
    failure: "Could not load the sweeps",
  });

  root.append(
    pageHeader({
      title: "Sweeps",
      subtitle: "Searches over job specs: each trial is a job, the best trial's model is promoted.",
    }),
    ...list.elements,
  );
  list.load();
  return list.stop;
}

/** Each dotted path by its last part, or whole where two would read the same. */
function shortNames(paths) {
  const last = paths.map((p) => p.split(".").pop());
  return paths.map((p, i) => (last.filter((n) => n === last[i]).length === 1 ? last[i] : p));
}

/** A tried value in a few characters: numbers to 4 significant digits, objects as JSON. */
function valueText(value) {
  if (typeof value === "number" && !Number.isInteger(value)) {
    return String(Number(value.toPrecision(4)));
  }
  const text = typeof value === "object" ? JSON.stringify(value) : String(value);
  return text.length <= 40 ? text : `${text.slice(0, 39)}…`;
}

/** The promoted trial once the sweep ended, else the best complete one so far. */
function bestTrial(sweep) {
  if (sweep.best_job_id) {
    const promoted = sweep.trials.find((t) => t.job_id === sweep.best_job_id);
    if (promoted) return promoted;
  }
  let best = null;
  for (const t of sweep.trials) {
    if (t.state === "complete" && typeof t.value === "number" && (!best || t.value > best.value))
      best = t;
  }
  return best;
}

function trialRow(trial, paths, best, noted) {
  const href = trial.job_id ? `#/jobs/${trial.job_id}` : null;
  const isBest = best && best.number === trial.number;
  // While the study counts a trial running, its job's status says more (queued, cancelled…).
  const state = trial.state === "running" && trial.job_status ? trial.job_status : trial.state;
  return h(
    "tr",
    {
      class: `${href ? "clickable" : ""}${isBest ? " best" : ""}`,
      "data-trial": trial.number,
      "data-best": isBest ? "true" : null,
      onclick: href ? (e) => e.target.closest("a") || (location.hash = href) : null,
    },
    h(
      "td",
      { class: "num" },
      String(trial.number),
      isBest ? h("span", { class: "best-tag", title: "the best trial" }, "best") : null,
    ),
    h("td", {}, statusBadge(state)),
    h("td", { class: "num" }, percent(trial.value)),
    paths.map((p) =>
      h("td", { class: "mono small" }, p in trial.params ? valueText(trial.params[p]) : "—"),
    ),
    h("td", {}, href ? h("a", { href, class: "mono small" }, trial.job_id) : "—"),
    noted ? h("td", { class: "muted small" }, trial.error || "") : null,
  );
}

/** One sweep: status, best value, promoted model, the best-so-far curve and the trial table. */
export function sweepPage(root, ctx, sweepId) {
  let sweep = null;
  let timer = null;
  let stopped = false;
  document.title = `${sweepId} · Reprogram`;

  const curve = lineChart({
    title: "Best validation accuracy so far",
    series: [
      { key: "value", label: "validation accuracy", color: "#2563eb", line: false },
      { key: "best", label: "best so far", color: "#f97316" },
    ],
    format: (v) => `${Math.round(v * 100)}%`,
    range: [0, 1],
    xLabel: "trial",
    first: 0,
    empty: "Waiting for the first trial to end…",
  });
  curve.element.id = "best-chart";

  const heading = h("div", {});
  const stats = h("div", { class: "stats" });
  const message = h("div", {});
  const trials = h("div", {});
  const spec = h("pre", { class: "code", id: "spec" });
  const page = { message, show: update, reload: load }; // where the action buttons report

  function cancelButton() {
    if (!sweep || !GOING.includes(sweep.status)) return null;
    return postButton(ctx, page, {
      attrs: { class: "button button-danger", id: "cancel-sweep" },
      label: "Cancel",
      pending: "Cancelling…",
      path: `/v1/sweeps/${sweepId}/cancel`,
      failure: "Could not cancel the sweep",
      confirm: `Cancel sweep ${sweep.name || sweep.id}? No more trials start; running ones stop.`,
    });
  }

  /** Pause (a running sweep) or Resume (a paused one). */
  function pauseResumeButton() {
    if (!sweep || !GOING.includes(sweep.status)) return null;
    return pauseButton(ctx, page, {
      kind: "sweep",
      path: `/v1/sweeps/${sweepId}`,
      paused: sweep.status === "paused",
    });
  }

  /** The best-so-far curve over ended trials (by number), and each complete trial's value. */
  function plot() {
    let best = null;
    const ended = sweep.trials.filter((t) => ENDED.includes(t.state));
    for (const t of [...sweep.trials].sort((a, b) => a.number - b.number)) {
      if (t.state === "complete" && typeof t.value === "number") {
        best = Math.max(best ?? t.value, t.value);
        curve.add(t.number, { value: t.value });
      }
      if (best !== null && ended.includes(t)) curve.add(t.number, { best });
    }
  }

  function update(next) {
    sweep = next;
    const s = sweep.spec || {};
    const budget = s.budget || {};
    const best = bestTrial(sweep);
    heading.replaceChildren(
      pageHeader({
        back: { href: "#/sweeps", label: "Sweeps" },
        title: h("span", {}, sweep.name || sweep.id, " ", statusBadge(sweep.status)),
        subtitle: h(
          "span",
          { class: "mono" },
          sweep.id,
          h("span", { class: "muted" }, ` · created ${when(sweep.created_at)}`),
        ),
        actions: [
          pauseResumeButton(),
          cancelButton(),
          sweep.model_id
            ? h(
                "a",
                {
                  class: "button button-primary",
                  href: `#/models/${sweep.model_id}`,
                  id: "open-model",
                },
                "Open promoted model →",
              )
            : null,
        ],
      }),
      ...(sweep.error ? [errorBox({ message: sweep.error }, `Sweep ${sweep.status}`)] : []),
      ...(sweep.status === "paused"
        ? [
            h(
              "div",
              { class: "alert alert-info", id: "sweep-paused", role: "status" },
              h("strong", {}, "Paused"),
              h("span", {}, "No trial runs until the sweep is resumed; each keeps its checkpoint."),
            ),
          ]
        : []),
    );
    const ended = sweep.trials.filter((t) => ENDED.includes(t.state)).length;
    stats.replaceChildren(
      stat("trials ended", `${ended} / ${budget.trials ?? sweep.trials.length}`, {
        id: "stat-trials",
      }),
      stat("best val accuracy", percent(sweep.best_value ?? (best ? best.value : null)), {
        id: "stat-best",
      }),
      stat("best trial", best ? `#${best.number}` : "—", { id: "stat-best-trial" }),
      stat("test accuracy", percent(sweep.test_accuracy), { id: "stat-test-accuracy" }),
      stat("promoted model", modelLink(sweep.model_id, { id: "model-link" }), {
        id: "stat-model",
      }),
      stat("pruner", s.pruner || "—"),
      stat("duration", duration(sweep.created_at, sweep.finished_at)),
    );
    const paths = Object.keys(s.space || {});
    const noted = sweep.trials.some((t) => t.error); // a Note column only when there is one
    trials.replaceChildren(
      h(
        "table",
        { class: "table", id: "trials-table" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { class: "num" }, "Trial"),
            h("th", {}, "State"),
            h("th", { class: "num" }, "Val acc"),
            shortNames(paths).map((n, i) => h("th", { title: paths[i] }, n)),
            h("th", {}, "Job"),
            noted ? h("th", {}, "Note") : null,
          ),
        ),
        h(
          "tbody",
          {},
          sweep.trials.length
            ? [...sweep.trials]
                .sort((a, b) => a.number - b.number)
                .map((t) => trialRow(t, paths, best, noted))
            : emptyRow(paths.length + 4, "No trials yet."),
        ),
      ),
    );
    spec.textContent = JSON.stringify(s, null, 2);
    plot();
  }

  async function load() {
    try {
      const next = await request(`/v1/sweeps/${sweepId}`);
      if (stopped) return;
      message.replaceChildren();
      update(next);
    } catch (error) {
      if (stopped || ctx.fail(error)) return;
      message.replaceChildren(errorBox(error, "Could not load the sweep"));
    }
    clearTimeout(timer);
    if (!stopped && sweep && GOING.includes(sweep.status)) timer = setTimeout(load, REFRESH_MS);
  }

  root.append(
    heading,
    message,
    stats,
    h(
      "section",
      { class: "card table-card trials-card" },
      h("div", { class: "card-title" }, h("h2", {}, "Trials")),
      trials,
    ),
    h(
      "div",
      { class: "grid-2" },
      h("div", { class: "card" }, curve.element),
      h("section", { class: "card" }, h("div", { class: "card-title" }, h("h2", {}, "Spec")), spec),
    ),
  );
  load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
