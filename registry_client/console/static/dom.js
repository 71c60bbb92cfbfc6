// Building DOM nodes from values. Text goes in as text nodes, never as HTML: model names, versions,
// reasons and actors are user input, and nothing the console shows is parsed as markup.

/** An element: h("td", {class: "num"}, "0.93", child, …); null and false children are skipped. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace everything inside `el` with `children`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A table from a header row and rows of cells (strings, numbers or nodes). */
export function table(head, rows, attrs = {}) {
  return h(
    "div",
    { class: "scroll" },
    h(
      "table",
      attrs,
      h("thead", {}, h("tr", {}, head.map((cell) => h("th", {}, cell)))),
      h("tbody", {}, rows.map((row) => h("tr", {}, row.map((cell) => h("td", {}, cell))))),
    ),
  );
}

/** A number with `digits` decimals, or "–" when there is none. */
export function num(value, digits = 3) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

/** An estimate {value, low, high} as "0.930 [0.880, 0.960]". */
export function estimate(e, digits = 3) {
  if (!e) return "–";
  if (e.low === null || e.high === null) return num(e.value, digits);
  return `${num(e.value, digits)} [${num(e.low, digits)}, ${num(e.high, digits)}]`;
}

/** Epoch seconds or an ISO string as "2026-12-02 01:14:06 UTC". */
export function utc(value) {
  if (value === null || value === undefined) return "–";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}
