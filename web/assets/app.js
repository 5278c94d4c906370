// coconet app: the page's behaviour, plain JavaScript, no dependencies.
// Forms and buttons with data-api="METHOD /v1/…" call the daemon's local
// API (the same routes as the CLI's) with the session's CSRF token;
// data-then says what to do with the answer. Resources pages listen to
// /events (server-sent events of the API's HomeWatch stream).
"use strict";

const csrf = document.querySelector('meta[name="coco-csrf"]').content;
const netMeta = document.querySelector('meta[name="coco-net"]');
const net = netMeta ? netMeta.content : "";

function showError(msg) {
  const e = document.getElementById("error");
  e.textContent = msg;
  e.hidden = !msg;
}

async function call(method, path, body) {
  const opts = { method, headers: { "X-Coco-Csrf": csrf }, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  const text = await r.text();
  let v = null;
  try { v = text ? JSON.parse(text) : null; } catch (_) { v = { error: text }; }
  if (!r.ok) throw new Error((v && v.error) || r.statusText);
  return v;
}

// confirmFirst asks with the page's dialog; it resolves true on Confirm.
function confirmFirst(text) {
  const d = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
    d.returnValue = "";
    d.showModal();
    document.getElementById("confirm-cancel").focus();
  });
}

const then = {
  reload: () => location.reload(),
  loggedOut: () => { document.body.replaceChildren(Object.assign(document.createElement("p"), { textContent: "Logged out. Run `coco app` to log in again." })); },
  scene: (v, el) => {
    const t = document.getElementById("result-" + el.dataset.scene);
    const tb = t.querySelector("tbody");
    tb.replaceChildren();
    for (const r of v.results || []) {
      const tr = document.createElement("tr");
      const a = document.createElement("td");
      a.textContent = r.action.resource + ":" + r.action.capability + ":" + r.action.command;
      const b = document.createElement("td");
      b.textContent = r.ok ? "ok" : (r.code || "failed") + ": " + r.error;
      b.className = r.ok ? "ok" : "error";
      tr.append(a, b);
      tb.append(tr);
    }
    t.hidden = false;
  },
  keys: (v) => {
    const ks = Array.isArray(v) ? v : [v];
    document.getElementById("new-key").value = ks.map((k) => k.key).join(" ");
    document.getElementById("new-keys").hidden = false;
    document.getElementById("new-key").focus();
  },
  invite: (v) => {
    document.getElementById("invite-code").value = v.code;
    document.getElementById("invite-uses-left").textContent = v.uses;
    document.getElementById("invite-expires").textContent = new Date(v.expires).toLocaleString();
    document.getElementById("invite-qr").src = "/qr.png?text=" + encodeURIComponent(v.code);
    const box = document.getElementById("invite-result");
    box.hidden = false;
    document.getElementById("invite-code").focus();
  },
};

// bodies builds the request of forms whose fields do not map one to one
// onto the API's JSON (data-body).
const bodies = {
  scene: (f) => ({
    name: f.elements.name.value.trim(),
    actions: f.elements.actions.value.split("\n").map((l) => l.trim()).filter(Boolean).map(parseAction),
  }),
  grant: (f) => {
    const e = f.elements;
    const g = { member: e.member.value, capability: e.capability.value.trim() };
    const rs = e.resources.value.split(",").map((s) => s.trim()).filter(Boolean);
    if (rs.length) g.resources = rs;
    if (e.zone.value) g.zone = e.zone.value;
    if (e.command.value.trim()) g.command = e.command.value.trim();
    const days = [...f.querySelectorAll('input[name="days"]:checked')].map((c) => c.value);
    if (e.from.value || e.to.value || days.length) {
      if (!e.from.value || !e.to.value) throw new Error("give the window both a From and a To time");
      g.windows = [{ days, from: e.from.value, to: e.to.value }];
    }
    if (e.tz.value.trim()) g.tz = e.tz.value.trim();
    // Dates are read in this browser's time zone.
    if (e.valid_from.value) g.valid_from = new Date(e.valid_from.value).toISOString();
    if (e.until.value) g.until = new Date(e.until.value).toISOString();
    return g;
  },
};

// parseAction reads "resource:capability:command[:arg=value…]", as the CLI does.
function parseAction(line) {
  const [resource, capability, command, ...rest] = line.split(":");
  if (!command) throw new Error("not an action: " + line + " (want resource:capability:command)");
  const a = { resource, capability, command };
  for (const kv of rest) {
    const i = kv.indexOf("=");
    if (i < 0) throw new Error("not an argument: " + kv + " (want name=value)");
    const k = kv.slice(0, i), v = kv.slice(i + 1);
    a.args = a.args || {};
    a.args[k] = v === "true" ? true : v === "false" ? false : v !== "" && !isNaN(Number(v)) ? Number(v) : v;
  }
  return a;
}

function formBody(form) {
  if (form.dataset.body) return bodies[form.dataset.body](form);
  const body = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    body[el.name] = el.dataset.type === "number" ? Number(el.value) : el.value;
  }
  return body;
}

async function run(el, body) {
  const [method, path] = el.dataset.api.split(" ");
  if (el.dataset.confirm && !(await confirmFirst(el.dataset.confirm))) return;
  showError("");
  try {
    const v = await call(method, path, body);
    const f = then[el.dataset.then];
    if (f) f(v, el);
  } catch (err) {
    showError(err.message);
  }
}

document.addEventListener("submit", (ev) => {
  const f = ev.target.closest("form[data-api]");
  if (!f) return;
  ev.preventDefault();
  let body;
  try { body = formBody(f); } catch (err) { showError(err.message); return; }
  run(f, body);
});

document.addEventListener("click", (ev) => {
  const b = ev.target.closest("button[data-api]");
  if (b) { run(b, b.dataset.json ? JSON.parse(b.dataset.json) : undefined); return; }
  const c = ev.target.closest("button[data-copy]");
  if (c) {
    const src = document.getElementById(c.dataset.copy);
    src.select();
    (navigator.clipboard ? navigator.clipboard.writeText(src.value) : Promise.reject())
      .then(() => { c.textContent = "Copied"; })
      .catch(() => { document.execCommand("copy"); c.textContent = "Copied"; });
  }
});

// Controls of resources: each sends one home command.
async function command(el, capability, cmd, args) {
  const res = document.getElementById("res-" + el.dataset.resource);
  res.textContent = "";
  try {
    const r = await call("POST", "/v1/networks/" + encodeURIComponent(net) + "/commands",
      { resource: el.dataset.resource, capability, command: cmd, args });
    if (!r.ok) res.textContent = (r.code || "failed") + ": " + r.error;
    (r.changes || []).forEach(applyChange);
  } catch (err) {
    res.textContent = err.message;
  }
}

document.addEventListener("change", (ev) => {
  const el = ev.target;
  switch (el.dataset.control) {
    case "on_off": command(el, "on_off", el.checked ? "on" : "off"); break;
    case "level": command(el, "level", "set", { level: Number(el.value) }); break;
  }
});

document.addEventListener("click", (ev) => {
  const el = ev.target.closest('button[data-control="lock"]');
  if (el) command(el, "lock", el.textContent.trim() === "Lock" ? "lock" : "unlock");
});

function attrID(res, cap, attr) {
  return "v-" + (res + "-" + cap + "-" + attr).replace(/[ .]/g, "_");
}

function applyChange(c) {
  const id = attrID(c.resource, c.capability, c.attribute);
  const out = document.getElementById(id);
  if (out) out.textContent = typeof c.value === "number" && !Number.isInteger(c.value) ? c.value.toFixed(1) : String(c.value);
  for (const ctl of document.querySelectorAll('[data-attr="' + id + '"]')) {
    if (ctl.type === "checkbox") ctl.checked = c.value === true;
    else if (ctl.type === "range") { if (document.activeElement !== ctl) ctl.value = c.value; }
    else if (ctl.dataset.control === "lock") ctl.textContent = c.value === "locked" ? "Unlock" : "Lock";
  }
}

if (document.getElementById("live-state") && net) {
  const st = document.getElementById("live-state");
  const es = new EventSource("/events?net=" + encodeURIComponent(net));
  es.addEventListener("open", () => { st.textContent = "Live"; st.dataset.state = "live"; });
  es.addEventListener("error", () => { st.textContent = "Reconnecting…"; st.dataset.state = "down"; });
  es.addEventListener("change", (ev) => applyChange(JSON.parse(ev.data)));
}

// The time zone picker offers the zones this browser knows, its own first.
const tzs = document.getElementById("tzs");
if (tzs) {
  const here = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const all = Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [];
  for (const z of [here, ...all.filter((z) => z !== here)]) {
    const o = document.createElement("option");
    o.value = z;
    tzs.append(o);
  }
  const tz = document.getElementById("g-tz");
  if (tz && !tz.value) tz.value = here;
}
