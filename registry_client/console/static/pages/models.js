// Models: every model the gateway serves (or failed to load), its plan in force, the loaded versions with
// their metadata and SHA-256, load errors, and the gateway's readiness (GET /readyz needs no token).
import { api, modelPath } from "../api.js";
import { fill, h, table, utc } from "../dom.js";

export const title = () => "Models";
export const pattern = /^#\/models\/?$/;
export const pollMs = 5000;

export function planSummary(plan) {
  if (!plan) return h("p", { class: "error" }, "no plan in force");
  return h(
    "dl",
    { class: "plan" },
    h("dt", {}, "stable"),
    h("dd", { class: "stable" }, plan.stable),
    h("dt", {}, "canary"),
    h("dd", { class: "canary" }, plan.canary ? `${plan.canary.version} at ${plan.canary.weight} %${plan.canary.sticky ? ", sticky" : ""}` : "none"),
    h("dt", {}, "shadow"),
    h("dd", { class: "shadow" }, plan.shadow ? `${plan.shadow.version}, ${plan.shadow.sample} % of requests` : "none"),
    h("dt", {}, "revision"),
    h("dd", { class: "revision" }, `${plan.revision} (${utc(plan.updated_at)}, by ${plan.actor}: ${plan.reason || "–"})`),
  );
}

export function versionsTable(versions) {
  const rows = Object.entries(versions).map(([version, v]) => [
    version,
    v.task,
    v.framework,
    v.n_features,
    utc(v.created),
    h("code", { class: "sha" }, v.sha256),
  ]);
  if (!rows.length) return h("p", { class: "muted" }, "no versions loaded");
  return table(["version", "task", "framework", "features", "registered", "SHA-256"], rows, { class: "versions" });
}

function card(described, revision) {
  const name = described.model;
  return h(
    "article",
    { class: "card model", "data-model": name },
    h("h2", {}, h("a", { href: `#/models/${modelPath(name)}` }, name)),
    planSummary(described.plan),
    revision === undefined ? h("p", { class: "error" }, "not served by this gateway") : null,
    described.error ? h("p", { class: "error load-error" }, `load error: ${described.error}`) : null,
    versionsTable(described.versions),
  );
}

export function mount(root) {
  const ready = h("p", { id: "readiness" });
  const list = h("div", { id: "models" });
  fill(root, h("h1", {}, "Models"), ready, list);
  return {
    async refresh() {
      const [{ models }, readiness] = await Promise.all([
        api("/models"),
        fetch("/readyz", { cache: "no-store", credentials: "omit" }).then((r) => r.json()).catch(() => null),
      ]);
      if (readiness) {
        const log = readiness.log ?? {};
        // log.store is the store breaker's state: closed while the store takes writes.
        const store = { closed: "store writable", open: "store unreachable", half_open: "store recovering" };
        const state = log.refusing ? "refusing predictions" : `${store[log.store] ?? `store ${log.store}`}, ${log.written ?? 0} records written`;
        fill(ready, readiness.ready ? "Gateway ready" : "Gateway not ready", ` · prediction log: ${state}`);
        ready.className = readiness.ready ? "ok" : "error";
      }
      const revisions = readiness?.models ?? {};
      fill(list, models.length ? models.map((m) => card(m, revisions[m.model])) : h("p", { class: "muted" }, "No models served."));
    },
  };
}
