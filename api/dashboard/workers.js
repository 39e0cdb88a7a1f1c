// The workers list: the live workers, what each runs on and takes, and how busy it has been.

import { request } from "./api.js";
import { ago, emptyRow, errorBox, h, number, pageHeader, percent, tableCard, when } from "./ui.js";

const REFRESH_MS = 5000;

function workerRow(worker) {
  return h(
    "tr",
    { "data-worker-id": worker.id },
    h("td", { class: "mono small" }, worker.id),
    h("td", {}, worker.kind),
    h("td", {}, worker.device || "—"),
    h("td", { class: "num nowrap" }, `${Number(worker.memory_gb).toFixed(1)} GB`),
    h("td", { class: "small" }, worker.queues.join(", ")),
    h(
      "td",
      {},
      // A job id comes only when the job is the caller's.
      worker.job_id
        ? h("a", { href: `#/jobs/${worker.job_id}`, class: "mono small" }, worker.job_id)
        : worker.busy
          ? "busy"
          : h("span", { class: "muted" }, "idle"),
    ),
    h("td", { class: "num" }, number(worker.jobs_done)),
    h("td", { class: "num" }, number(worker.jobs_per_hour)),
    h("td", { class: "num" }, percent(worker.busy_fraction)),
    h("td", { class: "muted", title: when(worker.last_seen) }, ago(worker.last_seen)),
  );
}

/** The workers seen within the heartbeat timeout, refreshed while the page is open. */
export function workersPage(root, ctx) {
  const body = h("tbody", {});
  const message = h("div", {});
  let timer = null;
  let stopped = false;
  document.title = "Workers · Reprogram";

  async function load() {
    try {
      const page = await request("/v1/workers");
      if (stopped) return;
      message.replaceChildren();
      body.replaceChildren(...page.data.map(workerRow));
      if (!page.data.length) {
        body.append(emptyRow(10, "No live workers: queued jobs wait until one starts."));
      }
    } catch (error) {
      if (stopped || ctx.fail(error)) return;
      message.replaceChildren(errorBox(error, "Could not load the workers"));
    }
    if (!stopped) timer = setTimeout(load, REFRESH_MS);
  }

  root.append(
    pageHeader({
      title: "Workers",
      subtitle: "The live workers: what each runs on, the queues it takes, and its throughput.",
    }),
    message,
    tableCard(
      "workers-table",
      [
        "Worker",
        "Kind",
        "Device",
        "Memory",
        "Queues",
        "Job",
        "Done",
        "Jobs/h",
        "Busy",
        "Last seen",
      ],
      ["Memory", "Done", "Jobs/h", "Busy"],
      body,
    ),
  );
  load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
