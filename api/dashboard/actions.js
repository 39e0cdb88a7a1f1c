// The action buttons of a job's or a sweep's page (pause, resume, cancel): each POSTs to the API
// and shows the answer. `page` is where a button reports: { message, show(answer), reload() }.

import { request } from "./api.js";
import { errorBox, h } from "./ui.js";

/** A button that, once `confirm` is accepted (if given), POSTs to `path` and shows the answer. */
export function postButton(ctx, page, { attrs, label, pending, path, failure, confirm = null }) {
  const button = h("button", attrs, label);
  button.addEventListener("click", async () => {
    if (confirm && !window.confirm(confirm)) return;
    button.disabled = true;
    button.textContent = pending;
    try {
      page.show(await request(path, { method: "POST" }));
    } catch (error) {
      if (ctx.fail(error)) return;
      page.message.replaceChildren(errorBox(error, failure));
      page.reload();
    }
  });
  return button;
}

/** Pause, or Resume when `paused`, the job or sweep (`kind`) at `path`; greyed while `pausing`. */
export function pauseButton(ctx, page, { kind, path, paused, pausing = false }) {
  const verb = paused ? "resume" : "pause";
  return postButton(ctx, page, {
    attrs: { class: "button", id: `${verb}-${kind}`, disabled: pausing },
    label: pausing ? "Pausing…" : paused ? "Resume" : "Pause",
    pending: paused ? "Resuming…" : "Pausing…",
    path: `${path}/${verb}`,
    failure: `Could not ${verb} the ${kind}`,
  });
}
