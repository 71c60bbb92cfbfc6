// A model's rollout (GET /admin/models/{m}/rollout, read token): its spec and steps, where it is (phase,
// step, weight, time in step), the gates of the controller's latest tick, the quality gate's confidence
// sequence over time against the margin, every decision with its evidence, and pause / resume / abort / promote,
// each sending the reason and the admin token typed into the form (no cookie-borne authority, so no CSRF).
import { api, modelPath } from "../api.js";
import { timeSeries } from "../charts.js";
import { fill, h, num, utc } from "../dom.js";

export const title = (match) => `${decodeURIComponent(match[1] ?? "model")}: rollout`;
export const pattern = /^#\/models\/([^/]+)\/rollout$/;
export const pollMs = 3000;

const COMMANDS = ["pause", "resume", "abort", "promote"];

function where(state, weight) {
  const steps = state.spec.steps.filter((w) => w < 100);
  const active = ["shadow", "step", "paused"].includes(state.phase);
  const at = weight === null ? "" : `, step ${state.step + 1} of ${steps.length} at ${weight} %`;
  const inStep = active ? `, ${Math.round(Date.now() / 1000 - state.step_started_at)} s in step` : "";
  return `${state.phase}${at}${inStep}`;
}

function summary(state, weight) {
  const s = state.spec;
  const row = (term, cls, value) => [h("dt", {}, term), h("dd", { class: cls }, value)];
  return h(
    "dl",
    { class: "plan", id: "rollout-summary" },
    row("version", "version", `${s.version} over stable ${state.stable}`),
    row("phase", "phase", where(state, weight)),
    row("weight", "weight", weight === null ? "–" : `${weight} %`),
    row("steps", "steps", s.steps.map((w) => `${w} %`).join(" → ")),
    row("step duration", "durations", `at least ${s.step_duration_s} s, at most ${s.max_step_duration_s} s (then ${s.on_timeout})`),
    row("thresholds", "thresholds",
      `margin ${s.margin}, ${s.min_outcomes} outcomes per arm, p99 ratio ≤ ${s.max_p99_ratio}, ` +
      `error rate +${s.max_error_rate_increase} at most, α ${s.alpha}, labels mature after ${s.label_delay_s} s`),
    row("started", "started", `${utc(state.started_at)} by ${s.actor}: ${s.reason}`),
    row("last tick", "tick", utc(state.last_tick_at)),
  );
}

function interval(g) {
  return g.low === null || g.low === undefined ? "–" : `[${num(g.low, 4)}, ${num(g.high, 4)}]`;
}

function gatesTable(gates, attrs = {}) {
  if (!gates?.length) return h("p", { class: "muted" }, "No gates evaluated yet.");
  return h(
    "div",
    { class: "scroll" },
    h(
      "table",
      attrs,
      h("thead", {}, h("tr", {}, ["gate", "verdict", "n canary", "n stable", "estimate", "interval", "threshold", "needed", "reason (and method)"].map((c) => h("th", {}, c)))),
      h(
        "tbody",
        {},
        gates.map((g) =>
          h(
            "tr",
            { "data-gate": g.gate },
            h("td", { class: "gate" }, g.gate),
            h("td", { class: `verdict-cell ${g.verdict}` }, g.verdict),
            h("td", { class: "n-canary" }, g.n_canary),
            h("td", { class: "n-stable" }, g.n_stable),
            h("td", { class: "estimate" }, num(g.estimate, 4)),
            h("td", { class: "interval" }, interval(g)),
            h("td", { class: "threshold" }, num(g.threshold, 4)),
            h("td", {}, g.needed ?? "–"),
            h("td", { class: "reason" }, h("span", { class: "reason-text" }, g.reason), g.method ? h("small", { class: "method" }, g.method) : null),
          ),
        ),
      ),
    ),
  );
}

function decisionsList(decisions) {
  if (!decisions.length) return h("p", { class: "muted" }, "No decisions yet.");
  return h(
    "ol",
    { class: "decisions", reversed: true },
    [...decisions].reverse().map((d) =>
      h(
        "li",
        { class: "card decision", "data-action": d.action },
        h("p", {},
          h("strong", {}, d.action), ` · ${utc(d.at)} · by `, h("span", { class: "actor" }, d.actor),
          ` · phase ${d.phase}, step ${d.step + 1}`, d.revision === null ? "" : ` · plan revision ${d.revision}`),
        h("p", { class: "reason" }, d.reason),
        d.evidence?.gates ? gatesTable(d.evidence.gates, { class: "evidence" }) : null,
        d.evidence?.window ? h("p", { class: "muted" }, `window: ${JSON.stringify(d.evidence.window)}`) : null,
      ),
    ),
  );
}

// The quality gate's confidence sequence (GET …/rollout/sequence) as lines over time: the estimate and its
// anytime-valid bounds after each matured labelled request, against −margin; decisions that changed the
// plan are marked. Drawn on entry and then at most every SEQUENCE_MS (it reads the rollout's window).
const SEQUENCE_MS = 15000;

function paddedRange(values) {
  const [lo, hi] = [Math.min(...values), Math.max(...values)];
  const pad = (hi - lo || 1) * 0.08;
  return [lo - pad, hi + pad];
}

function drawSequence(el, seq, state) {
  if (seq === null) {
    fill(el, h("p", { class: "muted" }, "Shadow phase: the paired gate's numbers are in the table above."));
    return null;
  }
  if (!seq.ts.length) {
    fill(el, h("p", { class: "muted" }, "No matured labelled requests in the window yet."));
    return null;
  }
  const markers = state.decisions
    .filter((d) => d.revision !== null)
    .map((d) => ({ at: new Date(d.at).getTime() / 1000, label: d.action }));
  const threshold = seq.ts.map(() => seq.threshold);
  // The gate reads the sequence once both arms have min_outcomes rows; before that its bounds are wide
  // (AIPW values are ±1/weight), so the y axis spans the readable part, and the earlier part runs off it.
  const readable = seq.ts.map((_, i) => seq.n_canary[i] >= seq.min_outcomes && seq.n_stable[i] >= seq.min_outcomes);
  const from = readable.indexOf(true);
  const shown = [...seq.low, ...seq.high].filter((v, i) => from >= 0 && readable[i % seq.ts.length] && v !== null);
  const range = shown.length ? paddedRange([...shown, seq.threshold]) : null;
  if (from >= 0) markers.push({ at: seq.ts[from], label: `${seq.min_outcomes} per arm` });
  return timeSeries(
    el,
    seq.ts,
    [
      { label: "estimate", values: seq.estimate, color: "#111827" },
      { label: "lower bound", values: seq.low, color: "#2563eb", dash: [5, 4] },
      { label: "upper bound", values: seq.high, color: "#2563eb", dash: [5, 4] },
      { label: "−margin", values: threshold, color: "#dc2626", dash: [2, 4] },
    ],
    { title: "canary − stable quality", unit: "difference", markers, range, points: false },
  );
}

function commandForm(model, onDone) {
  const reason = h("input", { id: "rollout-reason", name: "reason", required: true, maxlength: 500 });
  const token = h("input", { id: "rollout-token", name: "token", type: "password", required: true, autocomplete: "off" });
  const result = h("p", { class: "result", id: "rollout-result", role: "status" });
  const buttons = COMMANDS.map((c) => h("button", { type: "submit", value: c, id: `rollout-${c}` }, c[0].toUpperCase() + c.slice(1)));
  const form = h(
    "form",
    { class: "card action", id: "rollout-form" },
    h("h3", {}, "Act on the rollout"),
    h("label", { for: "rollout-reason" }, "reason (kept with the rollout's decisions)"),
    reason,
    h("label", { for: "rollout-token" }, "admin token (sent with this command only)"),
    token,
    h("div", { class: "buttons" }, buttons),
    h("p", { class: "muted" }, "Promote makes the version stable now, whatever the gates say."),
    result,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const command = event.submitter?.value ?? "pause";
    const body = { reason: reason.value, ...(command === "promote" ? { force: true } : {}) };
    try {
      const answer = await api(`/admin/models/${modelPath(model)}/rollout/${command}`, { method: "POST", body, token: token.value, actor: "console" });
      token.value = "";
      reason.value = "";
      fill(result, `Done: the rollout is ${answer.rollout.phase}.`);
      result.className = "result ok";
      await onDone();
    } catch (err) {
      fill(result, `Refused (${err.status}): ${err.message}`);
      result.className = "result error";
    }
  });
  return form;
}

export function mount(root, match) {
  const model = decodeURIComponent(match[1]);
  const about = h("div", { id: "rollout" });
  const gates = h("div", { id: "gates" });
  const chart = h("div", { class: "chart", id: "quality-chart" });
  const decisions = h("div", { id: "decisions" });
  let drawn = null;
  let sequencedAt = 0;
  let form = null;
  const actions = h("div", { id: "rollout-actions" });
  fill(
    root,
    h("p", {}, h("a", { href: `#/models/${modelPath(model)}` }, `← ${model}`)),
    h("h1", {}, `${model}: rollout`),
    about,
    actions,
    h("h2", {}, "Gates at the latest tick"),
    gates,
    h("h3", {}, "quality gate over time: canary − stable with its anytime-valid bounds, against −margin"),
    chart,
    h("h2", {}, "Decisions and their evidence"),
    decisions,
  );

  async function refresh() {
    let answer;
    try {
      answer = await api(`/admin/models/${modelPath(model)}/rollout`);
    } catch (err) {
      if (err.status !== 404) throw err;
      fill(about, h("p", { class: "muted", id: "no-rollout" }, `${err.message}`));
      actions.hidden = true;
      return;
    }
    const state = answer.rollout;
    fill(about, summary(state, answer.weight));
    if (!form) fill(actions, (form = commandForm(model, refresh)));
    actions.hidden = !["shadow", "step", "paused"].includes(state.phase);
    fill(gates, gatesTable(state.last_gates, { class: "gates" }));
    fill(decisions, decisionsList(state.decisions));
    if (Date.now() - sequencedAt >= SEQUENCE_MS) {
      const { sequence } = await api(`/admin/models/${modelPath(model)}/rollout/sequence`);
      drawn?.destroy();
      drawn = drawSequence(chart, sequence, state);
      sequencedAt = Date.now();
    }
  }

  return {
    refresh,
    destroy() {
      drawn?.destroy();
    },
  };
}
