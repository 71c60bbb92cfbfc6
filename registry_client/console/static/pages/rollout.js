// A model's rollout (GET /admin/models/{m}/rollout, read token): its spec and steps, where it is (phase,
// step, weight, time in step), the gates of the controller's latest tick, the quality gate's interval at
// each decision against the margin, every decision with its evidence, and pause / resume / abort / promote,
// each sending the reason and the admin token typed into the form (no cookie-borne authority, so no CSRF).
import { api, modelPath } from "../api.js";
import { intervals } from "../charts.js";
import { fill, h, num, table, utc } from "../dom.js";

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
      h("thead", {}, h("tr", {}, ["gate", "verdict", "n canary", "n stable", "estimate", "interval", "threshold", "needed", "method", "reason"].map((c) => h("th", {}, c)))),
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
            h("td", { class: "method" }, g.method || "–"),
            h("td", { class: "reason" }, g.reason),
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

// The quality gate's interval at each decision that carries gates, then at the latest tick, against -margin.
function qualityMarks(state) {
  const quality = (gates) => gates?.find((g) => g.gate === "quality" && g.estimate !== null);
  const marks = state.decisions
    .filter((d) => quality(d.evidence?.gates))
    .map((d) => ({ ...quality(d.evidence.gates), label: `${utc(d.at).slice(11, 19)} ${d.action}` }));
  const now = quality(state.last_gates);
  if (now) marks.push({ ...now, label: "latest tick" });
  return marks.map((g) => ({ label: g.label, value: g.estimate, low: g.low, high: g.high, verdict: g.verdict }));
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
    h("h3", {}, "quality: canary − stable at each decision (anytime-valid interval) against −margin (dashed)"),
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
    const marks = qualityMarks(state);
    drawn?.destroy();
    drawn = null;
    if (marks.length) {
      drawn = intervals(chart, marks, { title: "quality difference", unit: "canary − stable", reference: -state.spec.margin });
    } else {
      fill(chart, h("p", { class: "muted" }, `No quality interval yet: ${state.spec.min_outcomes} labelled rows per arm are needed.`));
    }
  }

  return {
    refresh,
    destroy() {
      drawn?.destroy();
    },
  };
}
