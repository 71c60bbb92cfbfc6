// The gateway's JSON API as the console uses it. The read token lives in this tab's sessionStorage (gone
// when the tab closes, never in a URL or a cookie) and goes out as a Bearer header; the admin token is
// typed into a form for each change and sent once, so no authority rides on a cookie (no CSRF).
const KEY = "canaryline.read-token";

export const session = {
  token: () => sessionStorage.getItem(KEY),
  login: (token) => sessionStorage.setItem(KEY, token),
  logout: () => sessionStorage.removeItem(KEY),
};

/** A refusal from the gateway, in its error body: {error: {code, message, request_id}}. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** GET (or POST `body`) a gateway path; `token` overrides the session's read token. */
export async function api(path, { method = "GET", body = undefined, token = undefined, actor = undefined } = {}) {
  const headers = { Accept: "application/json" };
  const bearer = token ?? session.token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (actor) headers["X-Canaryline-Actor"] = actor;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (err) {
    throw new ApiError(0, "unreachable", `the gateway did not answer (${err.message})`);
  }
  const payload = await response.json().catch(() => null);
  if (!response.ok) {
    const error = payload && typeof payload.error === "object" ? payload.error : {};
    throw new ApiError(response.status, error.code ?? "http_error", error.message ?? `HTTP ${response.status}`);
  }
  return payload;
}

export const modelPath = (model) => encodeURIComponent(model);
