// The models list and a model's page: labels, metrics, artifact, a try-it prediction, delete.

import { download, request } from "./api.js";
import {
  ago,
  backboneName,
  clickableRow,
  emptyRow,
  errorBox,
  h,
  nameCell,
  number,
  pageHeader,
  percent,
  stat,
  tableCard,
  when,
} from "./ui.js";

/** The caller's models, newest first. */
export function modelsPage(root, ctx) {
  const body = h("tbody", {});
  const more = h("button", { class: "button", hidden: true }, "Load more");
  const message = h("div", {});
  let cursor = null;
  let stopped = false;
  document.title = "Models · Reprogram";

  async function load() {
    const params = new URLSearchParams({ limit: "25" });
    if (cursor) params.set("cursor", cursor);
    try {
      const page = await request(`/v1/models?${params}`);
      if (stopped) return;
      for (const model of page.data) {
        const href = `#/models/${model.id}`;
        body.append(
          clickableRow(
            href,
            {},
            nameCell(href, model),
            h("td", {}, model.method),
            h("td", {}, backboneName(model.backbone)),
            h("td", { class: "num" }, String(model.labels.length)),
            h("td", { class: "num" }, percent(model.metrics && model.metrics.test_accuracy)),
            h(
              "td",
              {},
              h("a", { href: `#/jobs/${model.job_id}`, class: "mono small" }, model.job_id),
            ),
            h("td", { class: "muted", title: when(model.created_at) }, ago(model.created_at)),
          ),
        );
      }
      if (!body.children.length) {
        body.append(emptyRow(7, "No models yet: a job that succeeds makes one."));
      }
      cursor = page.next_cursor;
      more.hidden = !page.has_more;
    } catch (error) {
      if (stopped || ctx.fail(error)) return;
      message.replaceChildren(errorBox(error, "Could not load the models"));
    }
  }
  more.addEventListener("click", load);

  root.append(
    pageHeader({
      title: "Models",
      subtitle: "What succeeded jobs produced: open one to try it on an image.",
    }),
    message,
    tableCard(
      "models-table",
      ["Model", "Method", "Backbone", "Labels", "Test acc", "Job", "Created"],
      ["Labels", "Test acc"],
      body,
    ),
    h("div", { class: "more" }, more),
  );
  load();
  return () => {
    stopped = true;
  };
}

/** "images_per_s" → "images / s", "elapsed_s" → "elapsed (s)", "test_accuracy" → "test accuracy". */
function metricName(key) {
  return key
    .replace(/_per_s$/, " / s")
    .replace(/_s$/, " (s)")
    .replaceAll("_", " ");
}

function metricsTable(metrics) {
  const rows = Object.entries(metrics || {})
    .filter(([, v]) => typeof v === "number" || typeof v === "string")
    .sort(([a], [b]) => a.localeCompare(b));
  return h(
    "table",
    { class: "table table-compact", id: "model-metrics" },
    h(
      "tbody",
      {},
      rows.map(([k, v]) =>
        h(
          "tr",
          {},
          h("th", {}, metricName(k)),
          h(
            "td",
            { class: "num" },
            typeof v === "number" && k.includes("accuracy")
              ? percent(v)
              : typeof v === "number"
                ? number(v)
                : v,
          ),
        ),
      ),
    ),
  );
}

function predictionList(topK) {
  return h(
    "ol",
    { class: "predictions", id: "predictions" },
    topK.map((p, i) => {
      const bar = h("div", { class: "prediction-bar" });
      bar.style.width = `${Math.max(0.5, p.score * 100).toFixed(1)}%`;
      return h(
        "li",
        { class: i === 0 ? "prediction top" : "prediction", "data-label": p.label },
        h(
          "div",
          { class: "prediction-head" },
          h("span", { class: "prediction-label" }, p.label),
          h("span", { class: "prediction-score" }, percent(p.score)),
        ),
        h("div", { class: "prediction-track" }, bar),
      );
    }),
  );
}

/** The try-it panel: pick or drop an image, see its top-k labels. */
function tryIt(model, ctx) {
  const input = h("input", {
    type: "file",
    accept: "image/*",
    id: "predict-file",
    class: "visually-hidden",
  });
  const topK = h(
    "select",
    { id: "predict-top-k", "aria-label": "how many labels" },
    [...new Set([1, 3, 5, 10, model.labels.length])]
      .filter((k) => k <= model.labels.length)
      .sort((a, b) => a - b)
      .map((k) =>
        h("option", { value: k, selected: k === Math.min(5, model.labels.length) }, `top ${k}`),
      ),
  );
  const preview = h("div", { class: "preview" }, h("span", { class: "muted" }, "No image yet"));
  const result = h("div", { class: "prediction-result", "aria-live": "polite" });
  let file = null;
  let objectUrl = null;

  async function predict() {
    if (!file) return;
    result.replaceChildren(h("p", { class: "muted" }, "Predicting…"));
    const form = new FormData();
    form.append("files", file, file.name || "image");
    try {
      const answer = await request(`/v1/models/${model.id}/predict?top_k=${topK.value}`, {
        method: "POST",
        body: form,
      });
      result.replaceChildren(predictionList(answer.predictions[0].top_k));
    } catch (error) {
      if (ctx.fail(error)) return;
      result.replaceChildren(errorBox(error, "Prediction failed"));
    }
  }

  function choose(chosen) {
    if (!chosen) return;
    file = chosen;
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = URL.createObjectURL(chosen);
    preview.replaceChildren(
      h("img", { src: objectUrl, alt: chosen.name || "uploaded image" }),
      h("div", { class: "muted small" }, chosen.name || ""),
    );
    predict();
  }

  input.addEventListener("change", () => choose(input.files[0]));
  topK.addEventListener("change", predict);
  const drop = h(
    "label",
    { for: "predict-file", class: "dropzone", id: "dropzone" },
    h("strong", {}, "Choose an image"),
    h("span", { class: "muted small" }, "or drop one here (PNG, JPEG, …)"),
    input,
  );
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("dragging");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("dragging"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("dragging");
    choose(e.dataTransfer.files[0]);
  });

  return h(
    "section",
    { class: "card", id: "try-it" },
    h("div", { class: "card-title" }, h("h2", {}, "Try it"), topK),
    h(
      "p",
      { class: "muted" },
      "Upload an image to see the labels this model gives it. It is resized to the model's input like the training data.",
    ),
    h("div", { class: "try-grid" }, h("div", {}, drop, preview), result),
  );
}

/** One model: labels, metrics, the artifact, and a prediction on an uploaded image. */
export function modelPage(root, ctx, modelId) {
  let stopped = false;
  document.title = `${modelId} · Reprogram`;
  root.append(h("p", { class: "muted" }, "Loading…"));

  (async () => {
    let model;
    try {
      model = await request(`/v1/models/${modelId}`);
    } catch (error) {
      if (stopped || ctx.fail(error)) return;
      root.replaceChildren(
        pageHeader({ back: { href: "#/models", label: "Models" }, title: modelId }),
        errorBox(error, "Could not load the model"),
      );
      return;
    }
    if (stopped) return;
    const message = h("div", {});
    const artifact = h("button", { class: "button", id: "download-artifact" }, "Download artifact");
    artifact.addEventListener("click", async () => {
      try {
        const blob = await download(`/v1/models/${model.id}/artifact`);
        const url = URL.createObjectURL(blob);
        const link = h("a", { href: url, download: `${model.id}.zip` });
        document.body.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
      } catch (error) {
        if (!ctx.fail(error))
          message.replaceChildren(errorBox(error, "Could not download the artifact"));
      }
    });
    const remove = h(
      "button",
      { class: "button button-danger", id: "delete-model" },
      "Delete model",
    );
    remove.addEventListener("click", async () => {
      if (!window.confirm(`Delete model ${model.name || model.id}? It cannot be undone.`)) return;
      remove.disabled = true;
      try {
        await request(`/v1/models/${model.id}`, { method: "DELETE" });
        location.hash = "#/models";
      } catch (error) {
        if (ctx.fail(error)) return;
        // 409 model_in_use: the server's message names the model or job that uses it.
        message.replaceChildren(errorBox(error, "Could not delete the model"));
        remove.disabled = false;
      }
    });
    const m = model.metrics || {};
    root.replaceChildren(
      pageHeader({
        back: { href: "#/models", label: "Models" },
        title: model.name || model.id,
        subtitle: h(
          "span",
          { class: "mono" },
          model.id,
          h("span", { class: "muted" }, ` · created ${when(model.created_at)} by job `),
          h("a", { href: `#/jobs/${model.job_id}` }, model.job_id),
        ),
        actions: [artifact, remove],
      }),
      message,
      h(
        "div",
        { class: "stats" },
        stat("test accuracy", percent(m.test_accuracy), { id: "stat-test-accuracy" }),
        stat("best val accuracy", percent(m.best_val_accuracy)),
        stat("method", model.method),
        stat("backbone", backboneName(model.backbone)),
        stat("labels", String(model.labels.length)),
        stat("artifact", `${number(model.artifact_bytes / 1024)} KiB`),
      ),
      tryIt(model, ctx),
      h(
        "div",
        { class: "grid-2 top" },
        h(
          "section",
          { class: "card" },
          h("div", { class: "card-title" }, h("h2", {}, "Labels")),
          h(
            "ul",
            { class: "chips", id: "labels" },
            model.labels.map((l) => h("li", {}, l)),
          ),
        ),
        h(
          "section",
          { class: "card" },
          h("div", { class: "card-title" }, h("h2", {}, "Metrics")),
          metricsTable(m),
        ),
      ),
    );
  })();

  return () => {
    stopped = true;
  };
}
