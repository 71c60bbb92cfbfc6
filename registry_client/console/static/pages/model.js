// A model's page: its plan, loaded versions, the evaluation (forest plot, label coverage, latency, tables,
// verdict), traffic share, quality and shadow agreement over time with plan revisions marked, the audit history, and promote / rollback forms that send the admin token typed into them.
import { api, modelPath } from "../api.js";
import { renderEvaluation } from "../evaluation.js";
import { renderTimeline } from "../timeline.js";
import { fill, h, table, utc } from "../dom.js";
import { planSummary, versionsTable } from "./models.js";

export const title = (match) => decodeURIComponent(match[1] ?? "model");
export const pattern = /^#\/models\/([^/]+)$/;
export const pollMs = 5000;
// The evaluation reads every logged row of the model: drawn on entry and then at most this often.
const EVALUATION_MS = 30000;

function historyTable(history) {
  return table(
    ["revision", "when", "actor", "action", "reason", "stable", "canary", "shadow"],
    [...history].reverse().map((e) => [
      e.revision,
      utc(e.at),
      e.actor,
      e.action,
      e.reason,
      e.after.stable,
      e.after.canary ? `${e.after.canary.version} ${e.after.canary.weight} %` : "–",
      e.after.shadow ? e.after.shadow.version : "–",
    ]),
    { class: "history" },
  );
}

// Built once per page; refresh() only updates the versions offered, so typing and results survive polling.
function actionForm(model, kind, onDone) {
  const id = (name) => `${kind}-${name}`;
  // Any registered version can be promoted, loaded or not: typed, with the ones this page knows offered.
  const version = h("input", {
    id: id("version"),
    name: "version",
    list: id("versions"),
    required: kind === "promote",
    placeholder: kind === "rollback" ? "blank: the last safe state" : "e.g. v2",
    autocomplete: "off",
  });
  const known = h("datalist", { id: id("versions") });
  const reason = h("input", { id: id("reason"), name: "reason", required: true, maxlength: 500 });
  const token = h("input", { id: id("token"), name: "token", type: "password", required: true, autocomplete: "off" });
  const result = h("p", { class: "result", id: id("result"), role: "status" });
  const form = h(
    "form",
    { class: "card action", id: `${kind}-form` },
    h("h3", {}, kind === "promote" ? "Promote a version to stable" : "Roll back"),
    h("label", { for: id("version") }, kind === "promote" ? "version" : "to"),
    version,
    known,
    h("label", { for: id("reason") }, "reason (kept in the audit history)"),
    reason,
    h("label", { for: id("token") }, "admin token (sent with this change only)"),
    token,
    h("button", { type: "submit" }, kind === "promote" ? "Promote" : "Roll back"),
    result,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { reason: reason.value };
    if (kind === "promote") body.version = version.value;
    else if (version.value) body.to = version.value;
    try {
      const answer = await api(`/admin/models/${modelPath(model)}/${kind}`, {
        method: "POST",
        body,
        token: token.value,
        actor: "console",
      });
      token.value = "";
      reason.value = "";
      fill(result, `Done: revision ${answer.plan.revision}, stable ${answer.plan.stable}.`);
      result.className = "result ok";
      await onDone();
    } catch (err) {
      fill(result, `Refused (${err.status}): ${err.message}`);
      result.className = "result error";
    }
  });
  const offer = (versions) => fill(known, versions.map((v) => h("option", { value: v })));
  return { form, offer };
}

export function mount(root, match) {
  const model = decodeURIComponent(match[1]);
  const plan = h("div", { id: "plan" });
  const versions = h("div", { id: "versions" });
  const actions = h("div", { id: "actions", class: "actions" });
  const evaluation = h("div", { id: "evaluation" });
  const overTime = h("div", { id: "timeline" });
  const history = h("div", { id: "history" });
  fill(
    root,
    h("p", {}, h("a", { href: "#/models" }, "← Models")),
    h("h1", {}, model),
    h("p", {}, h("a", { href: `#/models/${modelPath(model)}/rollout`, id: "rollout-link" }, "Rollout: steps, gates and decisions →")),
    h("h2", {}, "Plan"),
    plan,
    h("h2", {}, "Loaded versions"),
    versions,
    actions,
    h("h2", {}, "Evaluation"),
    evaluation,
    h("h2", {}, "Over time"),
    overTime,
    h("h2", {}, "Audit history"),
    history,
  );
  let charts = [];
  let evaluatedAt = 0;
  const forms = [actionForm(model, "promote", () => refresh()), actionForm(model, "rollback", () => refresh())];
  const path = modelPath(model);

  async function drawEvaluation() {
    const [ev, tl] = await Promise.all([api(`/models/${path}/evaluation`), api(`/models/${path}/timeline`)]);
    charts.forEach((c) => c.destroy());
    charts = [...renderEvaluation(evaluation, ev), ...renderTimeline(overTime, tl)];
    evaluatedAt = Date.now();
  }

  async function refresh() {
    // Without the admin API (CANARYLINE_ADMIN_API=0) there is no history and nothing to change here.
    const noAdmin = (err) => (err.status === 404 && err.code === "no_route" ? { history: null } : Promise.reject(err));
    const [described, audit] = await Promise.all([
      api(`/models/${path}`),
      api(`/admin/models/${path}/history`).catch(noAdmin),
    ]);
    fill(plan, planSummary(described.plan), described.error ? h("p", { class: "error" }, `load error: ${described.error}`) : null);
    fill(versions, versionsTable(described.versions));
    if (audit.history === null) {
      fill(history, h("p", { class: "muted" }, "The admin API is off on this gateway: no history, no changes."));
      actions.hidden = true;
      if (Date.now() - evaluatedAt >= EVALUATION_MS) await drawEvaluation();
      return;
    }
    fill(history, historyTable(audit.history));
    const seen = audit.history.flatMap((e) => [e.after.stable, e.after.canary?.version, e.after.shadow?.version]);
    const registered = [...new Set([...Object.keys(described.versions), ...seen])]
      .filter(Boolean)
      .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
    if (!actions.childElementCount) fill(actions, forms.map((f) => f.form));
    actions.hidden = false;
    forms.forEach((f) => f.offer(registered));
    if (Date.now() - evaluatedAt >= EVALUATION_MS) await drawEvaluation();
  }

  return {
    refresh,
    destroy() {
      charts.forEach((c) => c.destroy());
    },
  };
}
