// Sign in with an API key: checked against the API before it is kept.

import { ApiError, request, setKey } from "./api.js";
import { errorBox, h } from "./ui.js";

export function loginPage(root, ctx, notice) {
  const input = h("input", {
    id: "api-key",
    name: "api-key",
    type: "password",
    autocomplete: "current-password",
    placeholder: "rp_…",
    required: true,
    spellcheck: "false",
  });
  const remember = h("input", { id: "remember", type: "checkbox" });
  const button = h("button", { class: "button button-primary", type: "submit" }, "Sign in");
  const message = h(
    "div",
    { id: "login-error", "aria-live": "polite" },
    notice ? errorBox({ message: notice }, "Signed out") : null,
  );

  async function submit(event) {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    button.disabled = true;
    button.textContent = "Checking…";
    message.replaceChildren();
    try {
      await request("/v1/jobs?limit=1", { key });
      setKey(key, remember.checked);
      ctx.onSignedIn();
    } catch (error) {
      const unauthorized = error instanceof ApiError && error.status === 401;
      message.replaceChildren(
        errorBox(
          unauthorized
            ? { message: "That API key was not accepted: it is unknown or has been revoked." }
            : error,
          unauthorized ? "Wrong API key" : "Could not sign in",
        ),
      );
      button.disabled = false;
      button.textContent = "Sign in";
      input.select();
    }
  }

  root.append(
    h(
      "section",
      { class: "login" },
      h(
        "form",
        { class: "card login-card", onsubmit: submit },
        h("h1", {}, "Sign in"),
        h(
          "p",
          { class: "muted" },
          "Use an API key of this Reprogram service. Create one on the server with ",
          h("code", {}, "reprogram keys create NAME"),
          ".",
        ),
        h("label", { for: "api-key" }, "API key"),
        input,
        h("label", { class: "check" }, remember, " Remember on this device"),
        h("p", { class: "hint" }, "Otherwise the key is kept only until this tab is closed."),
        message,
        button,
      ),
    ),
  );
  input.focus();
}
