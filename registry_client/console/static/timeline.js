// A model's timeline (GET /models/{m}/timeline) as three charts over time, plan revisions marked: traffic
// share per version, accuracy or MAE per version (shadow versions too), and each shadow version's
// agreement with the primary. Used by the console's model page and, inlined, by `canaryline eval --html`.
import { PALETTE, timeSeries } from "./charts.js";
import { fill, h } from "./dom.js";

function bucketName(seconds) {
  if (seconds % 86400 === 0) return `${seconds / 86400} d`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

const base = (label) => label.replace(/ · shadow$/, "");

// One colour per version across the three charts; a shadow version's quality line is dashed.
function painter(tl) {
  const versions = [...new Set([...Object.keys(tl.traffic.share_pct), ...Object.keys(tl.quality.values), ...Object.keys(tl.shadow.values)].map(base))];
  return (values) =>
    Object.entries(values).map(([label, v]) => ({
      label,
      values: v,
      color: PALETTE[versions.indexOf(base(label)) % PALETTE.length],
      dash: label.endsWith(" · shadow") ? [6, 4] : undefined,
    }));
}

/** Draw `tl` into `container`; returns the charts, for destroy() before the next drawing. */
export function renderTimeline(container, tl) {
  const markers = tl.revisions.map((r) => ({ at: r.at, label: `r${r.revision}`, action: r.action }));
  const traffic = h("div", { class: "chart", id: "traffic-chart" });
  const quality = h("div", { class: "chart", id: "quality-time-chart" });
  const agreement = h("div", { class: "chart", id: "agreement-chart" });
  const metric = tl.quality.metric === "accuracy" ? "accuracy" : "MAE";
  const classification = tl.shadow.metric === "agreement";
  fill(
    container,
    h("p", { class: "muted" }, `${bucketName(tl.bucket_s)} buckets; dashed lines are plan revisions (r1, r2, …).`),
    h("h3", {}, "traffic share per version (primary requests)"),
    traffic,
    h("h3", {}, `${metric} per version over time (labelled rows)`),
    quality,
    h("h3", {}, classification ? "shadow agreement with the primary" : "shadow: mean |shadow − primary|"),
    agreement,
  );
  const entries = painter(tl);
  const drawn = [];
  const draw = (el, values, options, empty) => {
    if (!Object.keys(values).length) fill(el, h("p", { class: "muted" }, empty));
    else drawn.push(timeSeries(el, tl.starts, entries(values), { markers, ...options }));
  };
  draw(traffic, tl.traffic.share_pct, { title: "traffic share", unit: "%", range: [0, 100] }, "No requests in this window.");
  draw(quality, tl.quality.values, { title: metric, unit: metric, ...(metric === "accuracy" ? { range: [0, 1] } : {}) }, "No outcomes in this window.");
  draw(agreement, tl.shadow.values, {
    title: classification ? "agreement" : "mean |shadow − primary|",
    unit: classification ? "share equal" : "",
    ...(classification ? { range: [0, 1] } : {}),
  }, "No shadow records in this window.");
  return drawn;
}
