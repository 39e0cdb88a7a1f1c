// The jobs list (filterable by status) and a job's page (live curves, events, estimated finish,
// pause, resume, cancel, delete).

import { pauseButton, postButton } from "./actions.js";
import { followEvents, request } from "./api.js";
import { lineChart } from "./chart.js";
import { pagedTable } from "./lists.js";
import {
  ACTIVE,
  STATUSES,
  ago,
  backboneName,
  clickableRow,
  clock,
  countdown,
  datasetName,
  duration,
  errorBox,
  h,
  nameCell,
  number,
  pageHeader,
  percent,
  stat,
  statusBadge,
  when,
} from "./ui.js";

function filterFromHash() {
  const query = location.hash.split("?")[1] || "";
  const status = new URLSearchParams(query).get("status");
  return STATUSES.includes(status) ? status : null;
}

function jobRow(job) {
  const href = `#/jobs/${job.id}`;
  const spec = job.spec || {};
  const end = job.finished_at || null;
  return clickableRow(
    href,
    { "data-job-id": job.id },
    nameCell(href, job),
    h("td", {}, statusBadge(job.status)),
    h("td", {}, backboneName(spec.backbone)),
    h("td", {}, datasetName(spec.dataset)),
    h("td", {}, (spec.method && spec.method.kind) || "—"),
    h("td", { class: "num" }, percent(job.metrics && job.metrics.best_val_accuracy)),
    h(
      "td",
      { class: "num", "data-duration": job.started_at ? "" : null },
      job.started_at ? duration(job.started_at, end) : "—",
    ),
    h("td", { class: "muted", title: when(job.created_at) }, ago(job.created_at)),
  );
}

/** The caller's jobs, newest first, with a status filter and "load more". */
export function jobsPage(root, ctx) {
  const status = filterFromHash();
  document.title = "Jobs · Reprogram";

  const filters = h(
    "nav",
    { class: "segmented", "aria-label": "Filter by status" },
    [null, ...STATUSES].map((s) =>
      h(
        "a",
        {
          href: s ? `#/jobs?status=${s}` : "#/jobs",
          class: s === status ? "active" : null,
          "aria-current": s === status ? "page" : null,
          "data-filter": s || "all",
        },
        s || "all",
      ),
    ),
  );

  const list = pagedTable(ctx, {
    id: "jobs-table",
    path: "/v1/jobs",
    query: status ? { status } : {},
    columns: [
      "Job",
      "Status",
      "Backbone",
      "Dataset",
      "Method",
      "Best val acc",
      "Duration",
      "Created",
    ],
    numeric: ["Best val acc", "Duration"],
    row: jobRow,
    empty: () =>
      status
        ? [`No ${status} jobs.`]
        : ["No jobs yet. ", h("a", { href: "#/jobs/new" }, "Submit your first job →")],
    refreshWhile: ACTIVE,
    failure: "Could not load the jobs",
  });

  root.append(
    pageHeader({
      title: "Jobs",
      subtitle: "Reprogramming jobs of this key's owner, newest first.",
      actions: [h("a", { class: "button button-primary", href: "#/jobs/new" }, "New job")],
    }),
    h("div", { class: "toolbar" }, filters),
    ...list.elements,
  );
  list.load();
  return list.stop;
}

function describeEpoch(m) {
  const parts = [`train loss ${number(m.train_loss)}`, `train acc ${percent(m.train_accuracy)}`];
  if (m.val_loss !== null && m.val_loss !== undefined) parts.push(`val loss ${number(m.val_loss)}`);
  if (m.val_accuracy !== null && m.val_accuracy !== undefined)
    parts.push(`val acc ${percent(m.val_accuracy)}`);
  return parts.join(" · ");
}

function eventRow(event) {
  let text = event.message || "";
  if (event.type === "epoch") text = `epoch ${event.epoch}: ${describeEpoch(event.metrics || {})}`;
  if (event.type === "status") text = `status → ${event.message}`;
  return h(
    "li",
    { class: `event event-${event.type}`, "data-event-id": event.id },
    h(
      "time",
      { datetime: event.created_at, title: when(event.created_at) },
      clock(event.created_at),
    ),
    h("span", { class: "event-type" }, event.type),
    h("span", { class: "event-text" }, text),
  );
}

/** One job: spec, progress and estimated finish, live curves, the events log, and its actions. */
export function jobPage(root, ctx, jobId) {
  const controller = new AbortController();
  let job = null;
  let ticker = null;
  document.title = `${jobId} · Reprogram`;

  const loss = lineChart({
    title: "Loss",
    series: [
      { key: "train_loss", label: "train", color: "#2563eb" },
      { key: "val_loss", label: "validation", color: "#f97316" },
    ],
    format: (v) => String(Number(v.toPrecision(3))),
  });
  const accuracy = lineChart({
    title: "Accuracy",
    series: [
      { key: "train_accuracy", label: "train", color: "#2563eb" },
      { key: "val_accuracy", label: "validation", color: "#f97316" },
    ],
    format: (v) => `${Math.round(v * 100)}%`,
    range: [0, 1],
  });
  loss.element.id = "loss-chart";
  accuracy.element.id = "accuracy-chart";

  const heading = h("div", {});
  const stats = h("div", { class: "stats" });
  const progress = h("div", { class: "progress" }, h("div", { class: "progress-bar" }));
  const eta = h("div", { class: "progress-meta muted small", id: "eta" });
  const waiting = h("div", {});
  const streamState = h("span", { class: "stream-state", id: "stream-state" }, "connecting…");
  const message = h("div", {});
  const log = h("ol", { class: "events", id: "events" });
  const spec = h("pre", { class: "code", id: "spec" });
  let bestVal = null;
  let lastEpoch = 0;
  let eventFinish = null; // the latest epoch event's estimate, newer than the job's when it came
  const page = { message, show: update, reload: refresh }; // where the action buttons report

  function cancelButton() {
    if (!job || !ACTIVE.includes(job.status)) return null;
    const cancelling = job.status === "cancelling";
    return postButton(ctx, page, {
      attrs: { class: "button button-danger", id: "cancel-job", disabled: cancelling },
      label: cancelling ? "Cancelling…" : "Cancel job",
      pending: "Cancelling…",
      path: `/v1/jobs/${jobId}/cancel`,
      failure: "Could not cancel the job",
      confirm: `Cancel job ${job.name || job.id}? A running job stops within one training step.`,
    });
  }

  /** Pause (a running or queued job) or Resume (a paused one). */
  function pauseResumeButton() {
    if (!job || !["running", "queued", "pausing", "paused"].includes(job.status)) return null;
    return pauseButton(ctx, page, {
      kind: "job",
      path: `/v1/jobs/${jobId}`,
      paused: job.status === "paused",
      pausing: job.status === "pausing",
    });
  }

  /** When the job should finish: the latest epoch's estimate, else the job's, while it can run. */
  function showEta() {
    const finish = eventFinish || (job && job.estimated_finish_at);
    const shown = job && ["queued", "running"].includes(job.status) && finish;
    eta.hidden = !shown;
    eta.textContent = shown ? `finishes ${clock(finish)} (${countdown(finish)})` : "";
  }

  function deleteButton() {
    if (!job || ACTIVE.includes(job.status)) return null;
    const button = h("button", { class: "button button-danger", id: "delete-job" }, "Delete job");
    button.addEventListener("click", async () => {
      if (!window.confirm(`Delete job ${job.name || job.id} and its events? It cannot be undone.`))
        return;
      button.disabled = true;
      button.textContent = "Deleting…";
      try {
        await request(`/v1/jobs/${jobId}`, { method: "DELETE" });
        location.hash = "#/jobs";
      } catch (error) {
        if (ctx.fail(error)) return;
        // 409 job_has_model: the server's message names the model to delete first.
        message.replaceChildren(errorBox(error, "Could not delete the job"));
        button.disabled = false;
        button.textContent = "Delete job";
      }
    });
    return button;
  }

  function update(next) {
    job = next;
    const s = job.spec || {};
    const epochs = (s.hyperparameters && s.hyperparameters.epochs) || 10;
    const actions = [
      pauseResumeButton(),
      cancelButton(),
      deleteButton(),
      job.model_id
        ? h(
            "a",
            { class: "button button-primary", href: `#/models/${job.model_id}`, id: "open-model" },
            "Open model →",
          )
        : null,
    ];
    heading.replaceChildren(
      pageHeader({
        back: { href: "#/jobs", label: "Jobs" },
        title: h("span", {}, job.name || job.id, " ", statusBadge(job.status)),
        subtitle: h(
          "span",
          { class: "mono" },
          job.id,
          h(
            "span",
            { class: "muted" },
            ` · created ${when(job.created_at)}`,
            job.attempt > 1 ? ` · attempt ${job.attempt}` : "",
          ),
          job.sweep_id
            ? h(
                "span",
                { class: "muted" },
                " · ",
                h(
                  "a",
                  { href: `#/sweeps/${job.sweep_id}`, id: "sweep-link" },
                  `trial ${job.trial} of ${job.sweep_id}`,
                ),
              )
            : null,
        ),
        actions,
      }),
      ...(job.error ? [errorBox({ message: job.error }, `Job ${job.status}`)] : []),
    );
    waiting.replaceChildren(
      ...(job.status === "queued" && job.waiting_reason
        ? [
            h(
              "div",
              { class: "alert alert-info", id: "waiting-reason", role: "status" },
              h("strong", {}, "Waiting for a worker"),
              h("span", {}, job.waiting_reason),
            ),
          ]
        : []),
    );
    const epoch = Math.max(job.epoch || 0, lastEpoch);
    stats.replaceChildren(
      stat("backbone", backboneName(s.backbone)),
      stat("dataset", datasetName(s.dataset)),
      stat("method", (s.method && s.method.kind) || "—"),
      stat("epoch", `${epoch} / ${epochs}`, { id: "stat-epoch" }),
      stat("best val accuracy", percent((job.metrics && job.metrics.best_val_accuracy) ?? bestVal)),
      stat("test accuracy", percent(job.metrics && job.metrics.test_accuracy)),
      stat("duration", duration(job.started_at, job.finished_at), { id: "stat-duration" }),
    );
    const fraction = job.status === "succeeded" ? 1 : Math.min(1, epoch / epochs);
    progress.className = `progress progress-${job.status}`;
    progress.firstChild.style.width = `${(fraction * 100).toFixed(1)}%`;
    spec.textContent = JSON.stringify(job.spec, null, 2);
    showEta();
    clearInterval(ticker);
    if (["running", "cancelling", "pausing"].includes(job.status)) {
      ticker = setInterval(() => {
        const value = document.querySelector("#stat-duration .stat-value");
        if (value) value.textContent = duration(job.started_at, null);
        showEta();
      }, 1000);
    }
  }

  async function refresh() {
    try {
      update(await request(`/v1/jobs/${jobId}`, { signal: controller.signal }));
    } catch (error) {
      if (error.name === "AbortError" || ctx.fail(error)) return;
      message.replaceChildren(errorBox(error, "Could not load the job"));
    }
  }

  function onEvent(event) {
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
    log.append(eventRow(event));
    if (atBottom) log.scrollTop = log.scrollHeight;
    if (event.type === "epoch" && event.metrics) {
      loss.add(event.epoch, event.metrics);
      accuracy.add(event.epoch, event.metrics);
      lastEpoch = Math.max(lastEpoch, event.epoch);
      const val = event.metrics.val_accuracy;
      if (typeof val === "number") bestVal = Math.max(bestVal ?? 0, val);
      if (event.metrics.estimated_finish_at) eventFinish = event.metrics.estimated_finish_at;
      if (job) update(job);
    }
    if (event.type === "status") {
      eventFinish = null; // a pause or a resume: the next epoch, or the job, estimates again
      refresh();
    }
  }

  root.append(
    heading,
    message,
    waiting,
    h("div", { class: "stats-row" }, stats, progress, eta),
    h(
      "div",
      { class: "grid-2" },
      h("div", { class: "card" }, loss.element),
      h("div", { class: "card" }, accuracy.element),
    ),
    h(
      "div",
      { class: "grid-2" },
      h(
        "section",
        { class: "card" },
        h("div", { class: "card-title" }, h("h2", {}, "Events"), streamState),
        log,
      ),
      h("section", { class: "card" }, h("div", { class: "card-title" }, h("h2", {}, "Spec")), spec),
    ),
  );

  (async () => {
    await refresh();
    if (!job) return;
    try {
      await followEvents(jobId, {
        onEvent,
        signal: controller.signal,
        onState(state) {
          streamState.textContent = {
            live: "● live",
            reconnecting: "reconnecting…",
            ended: "stream ended",
          }[state];
          streamState.dataset.state = state;
        },
      });
      await refresh();
    } catch (error) {
      if (error.name === "AbortError" || ctx.fail(error)) return;
      message.replaceChildren(errorBox(error, "The live event stream failed"));
    }
  })();

  return () => {
    controller.abort();
    clearInterval(ticker);
  };
}
