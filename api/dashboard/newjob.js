// Submit a job spec as JSON, starting from a small example; catalogs of what works here.

import { request } from "./api.js";
import { errorBox, h } from "./ui.js";

export const EXAMPLES = {
  "Linear probe · digits (seconds)": {
    name: "lite0-digits-probe",
    backbone: { name: "efficientnet_lite0", weights: "imagenet" },
    dataset: { name: "digits", max_per_class: 60, test_max_per_class: 20, seed: 0 },
    method: { kind: "linear_probe", input_size: 64 },
    hyperparameters: { epochs: 12, batch_size: 32, optimizer: "adam", lr: 0.003, seed: 0 },
  },
  "Adversarial program · digits (a few minutes)": {
    name: "lite0-digits-program",
    backbone: { name: "efficientnet_lite0" },
    dataset: { name: "digits", max_per_class: 60, test_max_per_class: 20, seed: 0 },
    method: { kind: "adversarial_program", canvas_size: 64, label_mapping: "learned" },
    hyperparameters: { epochs: 10, batch_size: 32, seed: 0 },
  },
  "Linear probe · Fashion-MNIST": {
    name: "effnet-fashion",
    backbone: { name: "efficientnet_lite0", weights: "imagenet" },
    dataset: { name: "fashion_mnist", max_per_class: 500, seed: 0 },
    method: { kind: "linear_probe" },
    hyperparameters: { epochs: 10, batch_size: 128, optimizer: "adam", lr: 0.001, seed: 0 },
  },
};

function catalog(title, entries) {
  const offline = entries.filter((e) => e.available_offline);
  return h(
    "div",
    { class: "catalog" },
    h("h3", {}, title, h("span", { class: "muted small" }, ` ${offline.length} usable offline`)),
    h(
      "ul",
      {},
      offline
        .slice(0, 12)
        .map((e) => h("li", { title: e.description || "" }, h("code", {}, e.name))),
      offline.length > 12 ? h("li", { class: "muted" }, `and ${offline.length - 12} more`) : null,
    ),
  );
}

export function newJobPage(root, ctx) {
  const names = Object.keys(EXAMPLES);
  const text = (name) => JSON.stringify(EXAMPLES[name], null, 2);
  const editor = h("textarea", {
    id: "spec-editor",
    class: "code",
    spellcheck: "false",
    rows: 18,
    "aria-label": "job spec (JSON)",
  });
  editor.value = text(names[0]);
  const example = h(
    "select",
    { id: "spec-example", "aria-label": "start from an example" },
    names.map((n) => h("option", { value: n }, n)),
  );
  example.addEventListener("change", () => {
    editor.value = text(example.value);
  });
  const submit = h(
    "button",
    { class: "button button-primary", type: "submit", id: "submit-job" },
    "Submit job",
  );
  const message = h("div", { id: "submit-error", "aria-live": "polite" });
  const catalogs = h("div", { class: "catalogs" }, h("p", { class: "muted" }, "Loading catalogs…"));
  let stopped = false;
  document.title = "New job · Reprogram";

  async function send(event) {
    event.preventDefault();
    message.replaceChildren();
    let spec;
    try {
      spec = JSON.parse(editor.value);
    } catch (error) {
      message.replaceChildren(errorBox({ message: error.message }, "The spec is not valid JSON"));
      return;
    }
    submit.disabled = true;
    submit.textContent = "Submitting…";
    try {
      const job = await request("/v1/jobs", { method: "POST", json: spec });
      location.hash = `#/jobs/${job.id}`;
    } catch (error) {
      if (stopped || ctx.fail(error)) return;
      message.replaceChildren(errorBox(error, "The job was not accepted"));
      submit.disabled = false;
      submit.textContent = "Submit job";
    }
  }

  root.append(
    h(
      "header",
      { class: "page-header" },
      h(
        "div",
        {},
        h("a", { class: "back", href: "#/jobs" }, "← Jobs"),
        h("h1", {}, "New job"),
        h(
          "p",
          { class: "subtitle" },
          "A job spec in JSON: backbone, dataset, method and hyperparameters. Invalid specs are refused with the field named.",
        ),
      ),
    ),
    h(
      "div",
      { class: "grid-main" },
      h(
        "form",
        { class: "card", onsubmit: send },
        h("div", { class: "card-title" }, h("h2", {}, "Spec"), example),
        editor,
        message,
        h(
          "div",
          { class: "form-actions" },
          submit,
          h("a", { class: "button button-ghost", href: "#/jobs" }, "Cancel"),
        ),
      ),
      h(
        "aside",
        { class: "card" },
        h("div", { class: "card-title" }, h("h2", {}, "Available here")),
        catalogs,
      ),
    ),
  );

  (async () => {
    try {
      const [backbones, datasets, methods] = await Promise.all(
        ["backbones", "datasets", "methods"].map((c) => request(`/v1/${c}`)),
      );
      if (stopped) return;
      catalogs.replaceChildren(
        catalog("Backbones", backbones.data),
        catalog("Datasets", datasets.data),
        catalog("Methods", methods.data),
      );
    } catch (error) {
      if (stopped || ctx.fail(error)) return;
      catalogs.replaceChildren(errorBox(error, "Could not load the catalogs"));
    }
  })();

  return () => {
    stopped = true;
  };
}
