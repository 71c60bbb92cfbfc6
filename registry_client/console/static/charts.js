// The console's charts, drawn by uPlot (vendor/uPlot.iife.min.js, loaded before this module as the global
// `uPlot`). Three kinds over one categorical x axis (a version and route per slot):
//   intervals(): a point and its 95 % interval per slot — the forest plot of accuracy or MAE;
//   ranges():    several points per slot joined by a line — latency p50 / p95 / p99;
//   bars():      one bar per slot — label coverage;
// and timeSeries(): lines over a time axis with dashed markers — traffic share, quality and shadow agreement
// per version over time, plan revisions marked.
// Each chart's container gets `data-marks`: the JSON of what was plotted, one entry per mark, so a test
// (or a screen reader's table) can check the drawing against the report without reading pixels.

export const PALETTE = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2"];
const HEIGHT = 220;

function width(el) {
  return Math.max(240, Math.min(el.clientWidth || 600, 900));
}

function categoryAxis(labels) {
  return {
    splits: () => labels.map((_, i) => i),
    values: (_u, splits) => splits.map((i) => labels[i] ?? ""),
    grid: { show: false },
    gap: 6,
  };
}

function fitToWidth(u, el) {
  if (typeof ResizeObserver === "undefined") return;
  const observer = new ResizeObserver(() => {
    const w = width(el);
    if (w !== u.width) u.setSize({ width: w, height: HEIGHT });
  });
  observer.observe(el);
  const destroy = u.destroy.bind(u);
  u.destroy = () => {
    observer.disconnect();
    destroy();
  };
}

function make(el, opts, data, marks) {
  el.replaceChildren();
  el.dataset.marks = JSON.stringify(marks);
  const u = new globalThis.uPlot({ width: width(el), height: HEIGHT, ...opts }, data, el);
  fitToWidth(u, el);
  return u;
}

function span(values, pad = 0.08) {
  const finite = values.filter((v) => v !== null && Number.isFinite(v));
  if (!finite.length) return [0, 1];
  let [lo, hi] = [Math.min(...finite), Math.max(...finite)];
  const extra = (hi - lo || Math.abs(hi) || 1) * pad;
  return [lo - extra, hi + extra];
}

/** Forest plot: rows [{label, value, low, high}], one point and whisker each; `reference` draws a dashed
 * line at that value (the stable version's score). */
export function intervals(el, rows, { title, unit = "", reference = null } = {}) {
  const x = rows.map((_, i) => i);
  const y = rows.map((r) => r.value);
  const whisker = (u) => {
    const ctx = u.ctx;
    ctx.save();
    ctx.lineWidth = 2 * devicePixelRatio;
    rows.forEach((r, i) => {
      if (r.low === null || r.high === null) return;
      const cx = u.valToPos(i, "x", true);
      const [top, bottom] = [u.valToPos(r.high, "y", true), u.valToPos(r.low, "y", true)];
      const cap = 6 * devicePixelRatio;
      ctx.strokeStyle = PALETTE[i % PALETTE.length];
      ctx.beginPath();
      ctx.moveTo(cx, top);
      ctx.lineTo(cx, bottom);
      ctx.moveTo(cx - cap, top);
      ctx.lineTo(cx + cap, top);
      ctx.moveTo(cx - cap, bottom);
      ctx.lineTo(cx + cap, bottom);
      ctx.stroke();
    });
    if (reference !== null) {
      const ry = u.valToPos(reference, "y", true);
      ctx.strokeStyle = "#6b7280";
      ctx.setLineDash([4 * devicePixelRatio, 4 * devicePixelRatio]);
      ctx.beginPath();
      ctx.moveTo(u.bbox.left, ry);
      ctx.lineTo(u.bbox.left + u.bbox.width, ry);
      ctx.stroke();
    }
    ctx.restore();
  };
  const range = span([...rows.flatMap((r) => [r.value, r.low, r.high]), reference]);
  return make(
    el,
    {
      title,
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: false, range: [-0.5, rows.length - 0.5] }, y: { range } },
      axes: [categoryAxis(rows.map((r) => r.label)), { label: unit, size: 56 }],
      series: [
        {},
        {
          label: title,
          paths: () => null,
          points: { show: true, size: 11, fill: (_u, _s) => "#111827", stroke: "#111827" },
        },
      ],
      hooks: { draw: [whisker] },
    },
    [x, y],
    rows.map(({ label, value, low, high }) => ({ label, value, low, high })),
  );
}

/** Points per slot for each named series, joined by a vertical line (latency percentiles). */
export function ranges(el, labels, series, { title, unit = "" } = {}) {
  const x = labels.map((_, i) => i);
  const join = (u) => {
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = "#9ca3af";
    ctx.lineWidth = devicePixelRatio;
    labels.forEach((_, i) => {
      const values = series.map((s) => s.values[i]).filter((v) => v !== null);
      if (values.length < 2) return;
      const cx = u.valToPos(i, "x", true);
      ctx.beginPath();
      ctx.moveTo(cx, u.valToPos(Math.min(...values), "y", true));
      ctx.lineTo(cx, u.valToPos(Math.max(...values), "y", true));
      ctx.stroke();
    });
    ctx.restore();
  };
  const all = series.flatMap((s) => s.values);
  const [, hi] = span(all);
  return make(
    el,
    {
      title,
      legend: { live: false },
      cursor: { show: false },
      scales: { x: { time: false, range: [-0.5, labels.length - 0.5] }, y: { range: [0, hi] } },
      axes: [categoryAxis(labels), { label: unit, size: 56 }],
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.name,
          stroke: PALETTE[i % PALETTE.length],
          paths: () => null,
          points: { show: true, size: 9, fill: PALETTE[i % PALETTE.length] },
        })),
      ],
      hooks: { draw: [join] },
    },
    [x, ...series.map((s) => s.values)],
    labels.flatMap((label, i) => series.map((s) => ({ label, series: s.name, value: s.values[i] }))),
  );
}

/** One bar per slot (label coverage, in %). */
export function bars(el, labels, values, { title, unit = "", max = null } = {}) {
  const x = labels.map((_, i) => i);
  return make(
    el,
    {
      title,
      legend: { show: false },
      cursor: { show: false },
      scales: {
        x: { time: false, range: [-0.5, labels.length - 0.5] },
        y: { range: [0, max ?? span(values)[1]] },
      },
      axes: [categoryAxis(labels), { label: unit, size: 56 }],
      series: [
        {},
        {
          label: title,
          fill: "#93c5fd",
          stroke: "#2563eb",
          paths: globalThis.uPlot.paths.bars({ size: [0.5, 80] }),
          points: { show: false },
        },
      ],
    },
    [x, values],
    labels.map((label, i) => ({ label, value: values[i] })),
  );
}

/** Lines over time: `starts` (epoch seconds, one per bucket) and series [{label, values, color?, dash?}] (null: no value
 * in that bucket, drawn as a gap); `markers` [{at, label}] draw a dashed vertical line each (plan revisions);
 * `points: false` draws lines only (a dense series: one point per request).
 * The container also gets `data-markers` and `data-starts`, the JSON of the markers and buckets drawn. */
export function timeSeries(el, starts, series, { title, unit = "", markers = [], range = null, points = true } = {}) {
  const rule = (u) => {
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = "#6b7280";
    ctx.fillStyle = "#374151";
    ctx.lineWidth = devicePixelRatio;
    ctx.setLineDash([3 * devicePixelRatio, 3 * devicePixelRatio]);
    ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
    ctx.textAlign = "center";
    markers.forEach((m, i) => {
      const x = u.valToPos(m.at, "x", true);
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
      // Labels step down in three rows, so revisions close in time stay readable.
      ctx.fillText(m.label, x, u.bbox.top + (10 + 12 * (i % 3)) * devicePixelRatio);
    });
    ctx.restore();
  };
  const values = series.flatMap((s) => s.values);
  const ats = [...starts, ...markers.map((m) => m.at)];
  const xRange = ats.length ? [Math.min(...ats), Math.max(...ats) + (starts.length > 1 ? starts[1] - starts[0] : 1)] : [0, 1];
  const u = make(
    el,
    {
      title,
      legend: { live: false },
      cursor: { show: false },
      scales: { x: { time: true, range: xRange }, y: { range: range ?? span(values) } },
      axes: [{}, { label: unit, size: 56 }],
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: s.color ?? PALETTE[i % PALETTE.length],
          width: 2,
          dash: s.dash,
          spanGaps: false,
          points: { show: points, size: 6, fill: s.color ?? PALETTE[i % PALETTE.length] },
        })),
      ],
      hooks: { draw: [rule] },
    },
    [starts, ...series.map((s) => s.values)],
    series.map((s) => ({ label: s.label, values: s.values })),
  );
  el.dataset.markers = JSON.stringify(markers);
  el.dataset.starts = JSON.stringify(starts);
  return u;
}
