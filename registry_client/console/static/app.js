// The console's shell: the login form, the pages, and the polling that keeps the page in force fresh.
//
// A page is a module exporting {title, pattern, pollMs, mount(root, match)}: `pattern` matches the location
// hash, and mount() draws into `root` and returns {refresh(), destroy()?}. The app calls refresh() every
// `pollMs` while the page is shown and the tab is visible. A new page is one such module added to PAGES.
import { ApiError, api, session } from "./api.js";
import { fill, h } from "./dom.js";
import * as model from "./pages/model.js";
import * as models from "./pages/models.js";
import * as rollout from "./pages/rollout.js";

const PAGES = [model, models, rollout];
const main = document.getElementById("main");
const status = document.getElementById("status");
let current = null;

function showStatus(text, kind = "error") {
  fill(status, text ? h("p", { class: kind, role: "alert" }, text) : null);
}

function stop() {
  if (!current) return;
  clearInterval(current.timer);
  current.handle?.destroy?.();
  current = null;
}

function loginForm(message = "") {
  stop();
  document.getElementById("logout").hidden = true;
  const input = h("input", { type: "password", id: "token", name: "token", autocomplete: "current-password", required: true });
  const error = h("p", { class: "error", id: "login-error", role: "alert" }, message);
  const form = h(
    "form",
    { id: "login", class: "card" },
    h("h2", {}, "Sign in"),
    h("label", { for: "token" }, "Read token (CANARYLINE_READ_TOKEN or the admin token)"),
    input,
    h("button", { type: "submit" }, "Sign in"),
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("/models", { token: input.value });
    } catch (err) {
      fill(error, err.status === 401 ? "That token was refused (401)." : err.message);
      return;
    }
    session.login(input.value);
    route();
  });
  fill(main, form);
  showStatus("");
  input.focus();
}

async function refresh() {
  if (document.hidden && current.started) return; // a tab in the background polls nothing (evaluations scan the log)
  current.started = true;
  try {
    await current.handle.refresh();
    showStatus("");
    document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      session.logout();
      loginForm("The gateway refused the token (401): sign in again.");
      return;
    }
    showStatus(err.message);
  }
}

async function route() {
  stop();
  if (!session.token()) {
    loginForm();
    return;
  }
  document.getElementById("logout").hidden = false;
  const hash = location.hash || "#/models";
  const page = PAGES.find((p) => p.pattern.test(hash)) ?? models;
  const match = hash.match(page.pattern) ?? [];
  document.title = `${page.title(match)} · canaryline`;
  const root = h("section", { class: "page" });
  fill(main, root);
  const entry = { handle: page.mount(root, match), timer: null };
  current = entry;
  await refresh();
  if (current === entry) entry.timer = setInterval(refresh, page.pollMs);
}

document.getElementById("logout").addEventListener("click", () => {
  session.logout();
  loginForm();
});
window.addEventListener("hashchange", route);
route();
