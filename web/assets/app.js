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
  synced: (v) => {
    const out = document.getElementById("sync-result");
    const ps = v.peers || [];
    out.textContent = ps.length === 0 ? "No peer reached." : ps.map((p) => p.peer.slice(0, 8) + "…: " +
      (p.error ? p.error : "sent " + p.blocks_sent + " blocks, received " + p.blocks_received)).join("; ");
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
  grant: (f) => {
    const e = f.elements;
    const g = { member: e.member.value, capability: e.capability.value.trim() };
    const rs = e.resources.value.split(",").map((s) => s.trim()).filter(Boolean);
    if (rs.length) g.resources = rs;
    if (e.zone.value) g.zone = e.zone.value;
    if (e.command.value.trim()) g.command = e.command.value.trim();
    const ws = [...f.querySelectorAll("#windows .window-row")].map((li) => ({
      days: [...li.querySelectorAll('.days input:checked')].map((c) => c.value),
      from: li.querySelector('[data-f="from"]').value,
      to: li.querySelector('[data-f="to"]').value,
    }));
    for (const w of ws) if (!w.from || !w.to) throw new Error("give every window both a From and a To time");
    if (ws.length) g.windows = ws;
    if (e.tz.value.trim()) g.tz = e.tz.value.trim();
    // Dates are read in this browser's time zone.
    if (e.valid_from.value) g.valid_from = new Date(e.valid_from.value).toISOString();
    if (e.until.value) g.until = new Date(e.until.value).toISOString();
    return g;
  },
};

// readFile reads a chosen file as base64 (what the API's []byte is in JSON).
function readFile(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ""));
    r.onerror = () => reject(new Error("cannot read " + file.name));
    r.readAsDataURL(file);
  });
}

bodies.upload = async (f) => {
  const file = f.elements.file.files[0];
  if (!file) throw new Error("choose a file");
  if (file.size > 3 << 20) throw new Error(file.name + " is over 3 MiB: use `coco drive put`");
  return { path: f.elements.path.value.trim() || file.name, content: await readFile(file) };
};

bodies.genesis = async (f) => {
  const file = f.elements.genesis.files[0];
  if (!file) throw new Error("choose the genesis file");
  return { genesis: await readFile(file), join: f.elements.join.checked };
};

// pemToBase64 is a certificate's DER in base64, from PEM text or DER bytes (base64).
function certBase64(b64) {
  const text = atob(b64);
  const m = text.match(/-----BEGIN [A-Z ]+-----([\s\S]*?)-----END/);
  return m ? m[1].replace(/\s+/g, "") : b64;
}

function hexBase64(hex) {
  if (!/^([0-9a-fA-F]{2})+$/.test(hex)) throw new Error("not hex: " + hex);
  return btoa(hex.match(/../g).map((h) => String.fromCharCode(parseInt(h, 16))).join(""));
}

bodies.proposal = async (f) => {
  const kind = f.elements.kind.value, arg = f.elements.arg.value.trim();
  const file = f.elements.file.files[0];
  const a = { kind };
  const need = (what) => { if (!arg) throw new Error(kind + " takes " + what); };
  switch (kind) {
    case "add_member": case "add_participant": case "add_ca":
      if (!file) throw new Error(kind + " takes a certificate file");
      a.cert = certBase64(await readFile(file));
      break;
    case "add_node": {
      if (!file) throw new Error("add_node takes an identity file (coco consortium identity NET --json)");
      a.node = JSON.parse(atob(await readFile(file))).node;
      break;
    }
    case "remove_member": case "remove_participant": case "remove_ca": need("an ID"); a.id = arg; break;
    case "remove_node": need("a node ID"); a.node_id = Number(arg); break;
    case "allow_code": case "remove_code": need("a SHA-256 in hex"); a.hash = hexBase64(arg); break;
    default: need("an environment"); a.env = arg;
  }
  return { actions: [a] };
};

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
  let [method, path] = el.dataset.api.split(" ");
  // data-path="field": the field's value goes in the path's {field}, not the body.
  for (const k of (el.dataset.path || "").split(" ").filter(Boolean)) {
    path = path.replace("{" + k + "}", encodeURIComponent(body[k]));
    delete body[k];
  }
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
  // A body may take a while to build (a file read): formBody may answer a promise.
  Promise.resolve().then(() => formBody(f)).then((body) => run(f, body), (err) => showError(err.message));
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

// Drive files: View shows a file's text, Download saves it.
document.addEventListener("click", async (ev) => {
  const b = ev.target.closest("button[data-read]");
  if (!b) return;
  showError("");
  try {
    const v = await call("POST", document.getElementById("sync-result").dataset.reads, { path: b.dataset.read });
    const bin = atob(v.content || "");
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    if (b.dataset.download) {
      const a = document.createElement("a");
      a.href = URL.createObjectURL(new Blob([bytes]));
      a.download = b.dataset.download;
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 1000);
      return;
    }
    document.getElementById("preview-name").textContent = b.dataset.read + " (" + bytes.length + " bytes)";
    document.getElementById("preview-text").textContent = new TextDecoder().decode(bytes.slice(0, 65536));
    document.getElementById("preview").hidden = false;
    document.getElementById("preview-text").focus();
  } catch (err) {
    showError(err.message);
  }
});

// The consortium identity, as a file to hand over.
const idButton = document.getElementById("identity-download");
if (idButton) idButton.addEventListener("click", () => {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([JSON.stringify(JSON.parse(idButton.dataset.identity), null, 2)], { type: "application/json" }));
  a.download = idButton.dataset.name;
  a.click();
});

// The scene builder: each action is picked with selects — device,
// resource, capability, command — and an input per parameter of the
// command typed by its spec, from the resources the page was given
// (data-catalog). No syntax to learn, nothing to mistype.
const sceneForm = document.getElementById("scene-form");
if (sceneForm) {
  const catalog = JSON.parse(sceneForm.dataset.catalog || "[]");
  const list = document.getElementById("scene-actions");
  const tmpl = document.getElementById("action-row");
  const devOf = (r) => r.device || r.node || "this node";
  const devices = [...new Set(catalog.map(devOf))].sort();
  let seq = 0;
  const fill = (sel, values, labelOf) => sel.replaceChildren(...values.map((v) => new Option(labelOf ? labelOf(v) : v, v)));
  const renumber = () => list.querySelectorAll(".action .n").forEach((n, i) => { n.textContent = i + 1; });

  function addRow(a) {
    const n = ++seq;
    const li = tmpl.content.firstElementChild.cloneNode(true);
    const f = {};
    for (const el of li.querySelectorAll("[data-f]")) { f[el.dataset.f] = el; el.id = "a" + n + "-" + el.dataset.f; }
    for (const l of li.querySelectorAll("label[data-for]")) l.htmlFor = "a" + n + "-" + l.dataset.for;
    const params = li.querySelector(".params");
    const res = () => catalog.find((r) => r.id === f.resource.value);
    const cap = () => ((res() || {}).capabilities || []).find((c) => c.name === f.capability.value);
    const cmd = () => ((cap() || {}).commands || []).find((c) => c.name === f.command.value);
    const onCommand = () => {
      params.replaceChildren();
      for (const p of (cmd() || {}).params || []) {
        const id = "a" + n + "-p-" + p.name;
        const wrap = document.createElement("div");
        wrap.className = "param";
        const label = Object.assign(document.createElement("label"), { htmlFor: id, textContent: p.name + (p.unit ? " (" + p.unit + ")" : "") + (p.optional ? " (optional)" : "") });
        let input;
        if (p.enum && p.enum.length) {
          input = document.createElement("select");
          fill(input, p.optional ? ["", ...p.enum] : p.enum);
        } else if (p.type === "bool") {
          input = document.createElement("select");
          fill(input, ["true", "false"]);
        } else {
          input = document.createElement("input");
          if (p.type === "int" || p.type === "number") {
            input.type = "number";
            input.step = p.type === "int" ? "1" : "any";
            if (p.min != null) input.min = p.min;
            if (p.max != null) input.max = p.max;
          }
          input.required = !p.optional;
        }
        Object.assign(input, { id, name: "" });
        input.dataset.param = p.name;
        input.dataset.type = p.type;
        wrap.append(label, input);
        params.append(wrap);
      }
    };
    const onCapability = () => { fill(f.command, ((cap() || {}).commands || []).map((c) => c.name)); onCommand(); };
    const onResource = () => { fill(f.capability, ((res() || {}).capabilities || []).filter((c) => (c.commands || []).length).map((c) => c.name)); onCapability(); };
    const onDevice = () => {
      fill(f.resource, catalog.filter((r) => devOf(r) === f.device.value).map((r) => r.id),
        (id) => { const r = catalog.find((x) => x.id === id); return r.name && r.name !== id ? r.name + " (" + id + ")" : id; });
      onResource();
    };
    f.device.addEventListener("change", onDevice);
    f.resource.addEventListener("change", onResource);
    f.capability.addEventListener("change", onCapability);
    f.command.addEventListener("change", onCommand);
    li.querySelector(".remove-action").addEventListener("click", () => { li.remove(); renumber(); });
    fill(f.device, devices);
    const r0 = a && catalog.find((r) => r.id === a.resource);
    if (r0) f.device.value = devOf(r0);
    onDevice();
    if (a) {
      for (const [k, then] of [["resource", onResource], ["capability", onCapability], ["command", onCommand]]) {
        f[k].value = a[k];
        then();
      }
      for (const [k, v] of Object.entries(a.args || {})) {
        const el = params.querySelector('[data-param="' + CSS.escape(k) + '"]');
        if (el) el.value = String(v);
      }
    }
    list.append(li);
    renumber();
    return li;
  }

  document.getElementById("add-action").addEventListener("click", () => addRow().querySelector("select").focus());
  addRow();

  // Edit: the scene's actions in the builder, saved over the old one.
  document.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-edit-scene]");
    if (!b) return;
    const sc = JSON.parse(b.dataset.editScene);
    list.replaceChildren();
    for (const a of sc.actions) addRow(a);
    sceneForm.elements.name.value = sc.name;
    document.getElementById("scene-replace").value = "1";
    document.getElementById("scene-save").textContent = "Save over " + sc.name;
    sceneForm.elements.name.focus();
  });

  bodies.scene = (form) => {
    const actions = [...list.querySelectorAll(".action")].map((li) => {
      const v = (k) => li.querySelector('[data-f="' + k + '"]').value;
      const a = { resource: v("resource"), capability: v("capability"), command: v("command") };
      for (const el of li.querySelectorAll("[data-param]")) {
        if (el.value === "") continue;
        a.args = a.args || {};
        const t = el.dataset.type;
        a.args[el.dataset.param] = t === "int" || t === "number" ? Number(el.value) : t === "bool" ? el.value === "true" : el.value;
      }
      if (!a.resource || !a.command) throw new Error("action " + (li.querySelector(".n").textContent) + " is not complete");
      return a;
    });
    if (!actions.length) throw new Error("add an action");
    return { name: form.elements.name.value.trim(), actions, replace: form.elements.replace.value === "1" };
  };
}

// The weekly window editor: a grant holds several windows, each its days
// and hours; Add a window makes another.
const windows = document.getElementById("windows");
if (windows) {
  const tmpl = document.getElementById("window-row");
  let seq = 0;
  const renumber = () => windows.querySelectorAll(".window-row .n").forEach((n, i) => { n.textContent = i + 1; });
  const addWindow = () => {
    const n = ++seq;
    const li = tmpl.content.firstElementChild.cloneNode(true);
    for (const el of li.querySelectorAll("[data-f]")) el.id = "w" + n + "-" + el.dataset.f;
    for (const l of li.querySelectorAll("label[data-for]")) l.htmlFor = "w" + n + "-" + l.dataset.for;
    li.querySelectorAll(".days input").forEach((c) => { c.name = "w" + n + "-days"; });
    li.querySelector(".remove-window").addEventListener("click", () => { li.remove(); renumber(); });
    windows.append(li);
    renumber();
    return li;
  };
  document.getElementById("add-window").addEventListener("click", () => addWindow().querySelector("input").focus());
}

// Claiming by scanning: the camera (or a photo) read for a QR code. The
// browser's own BarcodeDetector where it has one; else jsQR, a small QR
// decoder in plain JavaScript (assets/jsQR.js, jsQR 1.4.0 from npm,
// Apache-2.0, vendored unmodified), loaded only when needed.
const scan = document.getElementById("scan");
if (scan) {
  const status = document.getElementById("scan-status");
  const video = document.getElementById("scan-video");
  const start = document.getElementById("scan-start"), stop = document.getElementById("scan-stop");
  let stream = null, jsqr = null;
  const loadJsQR = () => jsqr || (jsqr = new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = "/static/jsQR.js";
    s.onload = () => resolve(window.jsQR);
    s.onerror = () => reject(new Error("cannot load the QR decoder"));
    document.head.append(s);
  }));
  const canvas = document.createElement("canvas");
  // decode reads a QR code in source (a video, an image bitmap) of w×h.
  async function decode(source, w, h) {
    if ("BarcodeDetector" in window) {
      try {
        const found = await new BarcodeDetector({ formats: ["qr_code"] }).detect(source);
        if (found.length) { scan.dataset.decoder = "BarcodeDetector"; return found[0].rawValue; }
        return null;
      } catch (_) { /* no QR support here: jsQR */ }
    }
    const decoder = await loadJsQR();
    const k = Math.min(1, 1024 / Math.max(w, h)); // big photos: smaller is faster, still readable
    canvas.width = Math.round(w * k);
    canvas.height = Math.round(h * k);
    const g = canvas.getContext("2d", { willReadFrequently: true });
    g.drawImage(source, 0, 0, canvas.width, canvas.height);
    const img = g.getImageData(0, 0, canvas.width, canvas.height);
    const code = decoder(img.data, img.width, img.height);
    if (code) scan.dataset.decoder = "jsQR";
    return code ? code.data : null;
  }
  function found(text) {
    document.getElementById("claim-code").value = text.trim();
    status.textContent = "Read a claim code: check it and press Claim.";
    document.getElementById("claim-submit").focus();
  }
  function stopCamera() {
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    video.hidden = stop.hidden = true;
    start.hidden = false;
  }
  start.addEventListener("click", async () => {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { status.textContent = "This browser offers no camera here: read the code from a photo."; return; }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    } catch (err) {
      status.textContent = "No camera: " + err.message + ". Read the code from a photo instead.";
      return;
    }
    video.srcObject = stream;
    video.hidden = stop.hidden = false;
    start.hidden = true;
    await video.play();
    status.textContent = "Point the camera at the device's QR code…";
    const tick = async () => {
      if (!stream) return;
      if (video.videoWidth) {
        const text = await decode(video, video.videoWidth, video.videoHeight).catch(() => null);
        if (text) { stopCamera(); found(text); return; }
      }
      setTimeout(tick, 150);
    };
    tick();
  });
  stop.addEventListener("click", () => { stopCamera(); status.textContent = ""; });
  document.getElementById("scan-file").addEventListener("change", async (ev) => {
    const file = ev.target.files[0];
    if (!file) return;
    status.textContent = "Reading…";
    try {
      const bmp = await createImageBitmap(file);
      const text = await decode(bmp, bmp.width, bmp.height);
      if (text) found(text); else status.textContent = "No QR code found in this picture.";
    } catch (err) {
      status.textContent = "Cannot read this picture: " + err.message;
    }
  });
}
