// Line charts drawn as inline SVG: epochs (or trials) on x, one line with dots per series.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 560;
const HEIGHT = 260;
const PAD = { left: 52, right: 16, top: 14, bottom: 40 };

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Round numbers for axis ticks: about `count` of them spanning [lo, hi]. */
function ticks(lo, hi, count) {
  const span = hi - lo || 1;
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  const first = Math.ceil(lo / step - 1e-9) * step;
  const out = [];
  for (let v = first; v <= hi + step * 1e-6; v += step) out.push(Number(v.toFixed(10)));
  return out;
}

/**
 * A chart that redraws itself as points arrive.
 * series: [{key, label, color, line}] (line: false draws the dots alone); format: a tick
 * formatter; range: fixed [lo, hi] or null; xLabel: what x counts, from `first`; empty: the
 * text shown before the first point.
 */
export function lineChart({
  title,
  series,
  format = (v) => String(v),
  range = null,
  xLabel = "epoch",
  first = 1,
  empty = "Waiting for the first epoch…",
}) {
  const svg = el("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    class: "chart-svg",
    role: "img",
    "aria-label": title,
  });
  const points = new Map(series.map((s) => [s.key, []]));

  function draw() {
    svg.replaceChildren();
    const all = [...points.values()].flat();
    const x0 = PAD.left;
    const x1 = WIDTH - PAD.right;
    const y0 = HEIGHT - PAD.bottom;
    const y1 = PAD.top;
    const maxEpoch = Math.max(first + 1, ...all.map((p) => p.x));
    let [lo, hi] = range || [0, 1];
    if (!range && all.length) {
      lo = Math.min(...all.map((p) => p.y));
      hi = Math.max(...all.map((p) => p.y));
      const margin = (hi - lo) * 0.08 || Math.abs(hi) * 0.1 || 1;
      lo = Math.max(0, lo - margin);
      hi += margin;
    }
    const sx = (x) => x0 + ((x - first) / (maxEpoch - first)) * (x1 - x0);
    const sy = (y) => y0 - ((y - lo) / (hi - lo || 1)) * (y0 - y1);

    const grid = el("g", { class: "chart-grid" });
    for (const v of ticks(lo, hi, 5)) {
      grid.append(el("line", { x1: x0, x2: x1, y1: sy(v), y2: sy(v) }));
      grid.append(el("text", { x: x0 - 8, y: sy(v) + 4, "text-anchor": "end" }, format(v)));
    }
    const epochTicks = ticks(first, maxEpoch, Math.min(8, maxEpoch - first)).filter(
      Number.isInteger,
    );
    for (const v of epochTicks) {
      grid.append(el("text", { x: sx(v), y: y0 + 18, "text-anchor": "middle" }, String(v)));
    }
    grid.append(
      el(
        "text",
        { x: (x0 + x1) / 2, y: HEIGHT - 4, "text-anchor": "middle", class: "chart-axis-label" },
        xLabel,
      ),
    );
    grid.append(el("line", { x1: x0, x2: x1, y1: y0, y2: y0, class: "chart-axis" }));
    svg.append(grid);

    if (!all.length) {
      svg.append(
        el(
          "text",
          { x: (x0 + x1) / 2, y: (y0 + y1) / 2, "text-anchor": "middle", class: "chart-empty" },
          empty,
        ),
      );
      return;
    }
    for (const s of series) {
      const data = points.get(s.key);
      if (!data.length) continue;
      const group = el("g", { class: "chart-series", "data-series": s.key });
      const path = data.map(
        (p, i) => `${i ? "L" : "M"}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`,
      );
      if (s.line !== false) {
        group.append(
          el("path", {
            d: path.join(""),
            fill: "none",
            stroke: s.color,
            "stroke-width": 2.25,
            "stroke-linejoin": "round",
          }),
        );
      }
      for (const p of data) {
        const dot = el("circle", {
          cx: sx(p.x),
          cy: sy(p.y),
          r: 3.5,
          fill: s.color,
          class: "chart-point",
          "data-series": s.key,
        });
        dot.append(el("title", {}, `${s.label}, ${xLabel} ${p.x}: ${format(p.y)}`));
        group.append(dot);
      }
      svg.append(group);
    }
  }

  const legend = document.createElement("div");
  legend.className = "chart-legend";
  for (const s of series) {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = s.color;
    item.append(swatch, s.label);
    legend.append(item);
  }
  const figure = document.createElement("figure");
  figure.className = "chart";
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  figure.append(caption, legend, svg);
  draw();

  return {
    element: figure,
    /** Add (or replace) the point of one epoch (or trial) for each series in `metrics`. */
    add(epoch, metrics) {
      for (const s of series) {
        const value = metrics[s.key];
        if (typeof value !== "number" || !Number.isFinite(value)) continue;
        const data = points.get(s.key).filter((p) => p.x !== epoch);
        data.push({ x: epoch, y: value });
        data.sort((a, b) => a.x - b.x);
        points.set(s.key, data);
      }
      draw();
    },
    get size() {
      return Math.max(0, ...[...points.values()].map((d) => d.length));
    },
  };
}
