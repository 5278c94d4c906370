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

function formBody(form) {
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
    if (f) f(v);
  } catch (err) {
    showError(err.message);
  }
}

document.addEventListener("submit", (ev) => {
  const f = ev.target.closest("form[data-api]");
  if (!f) return;
  ev.preventDefault();
  run(f, formBody(f));
});

document.addEventListener("click", (ev) => {
  const b = ev.target.closest("button[data-api]");
  if (b) { run(b); return; }
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
