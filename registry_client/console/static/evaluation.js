// An evaluation report (the JSON of `canaryline eval --json` and GET /models/{m}/evaluation) as charts
// and tables. Used by the console's model page and, inlined, by `canaryline eval --html`.
import { bars, intervals, ranges } from "./charts.js";
import { estimate, fill, h, num, table, utc } from "./dom.js";

function groupLabel(g) {
  return `${g.model_version} · ${g.shadow ? "shadow" : g.route}`;
}

function comparisons(ev) {
  const metric = ev.task === "classification" ? "accuracy" : "MAE";
  if (!ev.canary_vs_stable.length) {
    return h("p", { class: "muted" }, "No canary episode with outcomes on both canary and stable rows.");
  }
  return table(
    ["episode", `canary ${metric}`, `stable ${metric}`, "labelled rows", "canary − stable (95 % CI)", "p-value"],
    ev.canary_vs_stable.map((c) => [
      `${c.canary_version} vs ${c.stable_version}, revisions ${c.revisions.join(", ")}, ${utc(c.since)} → ${
        c.until === null ? "in force" : utc(c.until)
      }`,
      num(c.canary),
      num(c.stable),
      `${c.n_canary} vs ${c.n_stable}`,
      estimate(c.difference),
      c.p_value === null ? "–" : Number(c.p_value).toPrecision(3),
    ]),
    { class: "comparisons" },
  );
}

function shadows(ev) {
  if (!ev.shadows.length) return h("p", { class: "muted" }, "No shadow records.");
  const classification = ev.task === "classification";
  return table(
    ["shadow version", "pairs", classification ? "agreement" : "mean |shadow − primary|", "paired outcomes",
      "shadow − primary (95 % CI)", "p-value"],
    ev.shadows.map((s) => [
      s.shadow_version,
      s.pairs,
      num(classification ? s.agreement : s.mean_abs_difference),
      s.paired_outcomes,
      estimate(s.difference),
      s.p_value === null ? "–" : Number(s.p_value).toPrecision(3),
    ]),
    { class: "shadows" },
  );
}

/** Draw `ev` into `container`; returns the charts, for destroy() before the next drawing. */
export function renderEvaluation(container, ev) {
  const classification = ev.task === "classification";
  const metric = classification ? "accuracy" : "MAE";
  const groups = ev.groups;
  const forest = h("div", { class: "chart", id: "forest-plot" });
  const coverage = h("div", { class: "chart", id: "coverage-chart" });
  const latency = h("div", { class: "chart", id: "latency-chart" });
  fill(
    container,
    h("p", { class: "verdict", id: "verdict" }, ev.verdict ? ev.verdict.text : "No verdict yet: no canary episode has outcomes on both arms."),
    groups.length ? null : h("p", { class: "muted" }, "No logged predictions in this window."),
    h("h3", {}, `${metric} per version, 95 % intervals`),
    forest,
    h("h3", {}, "label coverage (rows with an outcome)"),
    coverage,
    h("h3", {}, "latency per version (p50, p95, p99)"),
    latency,
    h("h3", {}, "per version and route"),
    table(
      ["version", "route", "predictions", "rows", "outcomes", `${metric} (95 % CI)`, ...(classification ? [] : ["RMSE (95 % CI)"]),
        "p50 ms", "p95 ms", "p99 ms"],
      groups.map((g) => [
        g.model_version,
        g.shadow ? "shadow" : g.route,
        g.predictions,
        g.rows,
        g.outcomes,
        estimate(classification ? g.accuracy : g.mae),
        ...(classification ? [] : [estimate(g.rmse)]),
        num(g.latency_ms.p50, 1),
        num(g.latency_ms.p95, 1),
        num(g.latency_ms.p99, 1),
      ]),
      { class: "groups" },
    ),
    h("h3", {}, "canary vs stable"),
    comparisons(ev),
    h("h3", {}, "shadow vs primary on the same requests"),
    shadows(ev),
    h("p", { class: "muted" }, `Error rate: ${ev.notes.error_rate}.`),
  );
  if (!groups.length) return [];
  const scored = groups.filter((g) => (classification ? g.accuracy : g.mae));
  const stable = scored.find((g) => !g.shadow && g.route === "stable" && g.model_version === ev.stable_version);
  const score = (g) => (classification ? g.accuracy : g.mae);
  const labels = groups.map(groupLabel);
  const drawn = [];
  if (scored.length) {
    drawn.push(
      intervals(
        forest,
        scored.map((g) => ({ label: groupLabel(g), value: score(g).value, low: score(g).low, high: score(g).high })),
        { title: metric, unit: metric, reference: stable ? score(stable).value : null },
      ),
    );
  } else {
    fill(forest, h("p", { class: "muted" }, `No outcomes yet: no ${metric} to draw.`));
  }
  return [
    ...drawn,
    bars(coverage, labels, groups.map((g) => (g.rows ? (100 * g.outcomes) / g.rows : 0)), {
      title: "label coverage",
      unit: "%",
      max: 100,
    }),
    ranges(
      latency,
      labels,
      ["p50", "p95", "p99"].map((p) => ({ name: p, values: groups.map((g) => g.latency_ms[p]) })),
      { title: "latency", unit: "ms" },
    ),
  ];
}
