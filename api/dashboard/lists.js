// The list pages' table: a list endpoint's items a page at a time, newest first, with "Load more",
// refreshed while something on its first page is still moving.

import { request } from "./api.js";
import { emptyRow, errorBox, h, tableCard } from "./ui.js";

const PAGE_SIZE = 25;
const REFRESH_MS = 3000;

/**
 * A paged table of the items at `path` (query: extra filters), one `row` each, `empty()` saying
 * what an empty table means; its first page is reloaded every few seconds while an item on it has
 * a status in `refreshWhile`. Returns its `elements` to place, `load` to start and `stop` to leave.
 */
export function pagedTable(
  ctx,
  { id, path, query = {}, columns, numeric, row, empty, refreshWhile, failure },
) {
  const body = h("tbody", {});
  const button = h("button", { class: "button", hidden: true }, "Load more");
  const message = h("div", {});
  let cursor = null;
  let pages = 0;
  let timer = null;
  let stopped = false;

  /** Append the next page or, with `refresh`, show the first page again in place of all. */
  async function load({ refresh = false } = {}) {
    const params = new URLSearchParams({ limit: String(PAGE_SIZE), ...query });
    if (cursor && !refresh) params.set("cursor", cursor);
    try {
      const page = await request(`${path}?${params}`);
      if (stopped) return;
      message.replaceChildren();
      if (refresh || pages === 0) body.replaceChildren();
      body.append(...page.data.map(row));
      cursor = page.next_cursor;
      pages = refresh ? 1 : pages + 1;
      button.hidden = !page.has_more;
      if (!body.children.length) body.append(emptyRow(columns.length, empty()));
      // Keep refreshing while something on the first page is still moving.
      clearTimeout(timer);
      if (pages === 1 && page.data.some((item) => refreshWhile.includes(item.status))) {
        timer = setTimeout(() => load({ refresh: true }), REFRESH_MS);
      }
    } catch (error) {
      if (stopped || ctx.fail(error)) return;
      message.replaceChildren(errorBox(error, failure));
    }
  }
  button.addEventListener("click", () => load());

  /** Stop loading and refreshing: the page is being left. */
  function stop() {
    stopped = true;
    clearTimeout(timer);
  }

  const elements = [
    message,
    tableCard(id, columns, numeric, body),
    h("div", { class: "more" }, button),
  ];
  return { elements, load, stop };
}
