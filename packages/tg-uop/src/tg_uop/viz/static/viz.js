// tg viz: the trace viewer. Plain JavaScript, no dependencies, no network beyond its own server.
// Reads the trace (JSON lines, see tg_uop/trace.py) from /api/trace, polling while the program is live.
"use strict";

const S = {
  next: 0, live: false, warnings: [], records: 0,
  realizes: [], kernels: new Map(), kernelRefs: [], passes: [], rules: new Map(), launches: [], jits: [],
  runs: new Map(), steps: 0, cache: { schedule: [0, 0], compile: [0, 0] },
  tab: "realizes", filter: "", rows: [], sel: null, collapse: false, redraw: null,
};
const MAX_DRAWN = 1500; // larger graphs are drawn around the node of interest
const $ = (q) => document.querySelector(q);
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

// ---- loading ----

function ingest(text) {
  if (!text) return;
  for (const line of text.split("\n")) {
    if (!line) continue;
    let r;
    try { r = JSON.parse(line); } catch (e) { S.warnings.push("a record could not be read: " + e); continue; }
    S.records++;
    if (r.k === "realize") { S.realizes.push(r); S.cache.schedule[r.hit ? 0 : 1]++; }
    else if (r.k === "kernel") { if (!S.kernels.has(r.ref)) S.kernelRefs.push(r.ref); S.kernels.set(r.ref, r); }
    else if (r.k === "pass") { r.index = S.passes.length; S.passes.push(r); S.steps += r.steps.length; }
    else if (r.k === "rule") S.rules.set(r.id, r);
    else if (r.k === "launch") {
      S.launches.push(r);
      if (r.ref !== null) { if (!S.runs.has(r.ref)) S.runs.set(r.ref, []); S.runs.get(r.ref).push(r.dt); }
    } else if (r.k === "cache") S.cache[r.what] && S.cache[r.what][r.hit ? 0 : 1]++;
    else if (r.k === "jit") S.jits.push(r);
  }
}

async function poll() {
  try {
    const st = await (await fetch("/api/status")).json();
    const res = await fetch("/api/trace?from=" + S.next);
    const text = await res.text();
    S.next = +res.headers.get("X-Trace-Next");
    ingest(text);
    S.live = st.live;
    S.warnings = st.warnings.concat(S.warnings.filter((w) => !st.warnings.includes(w)));
  } catch (e) {
    S.live = false; // the program and its server are gone; what was loaded stays
  }
  showStatus();
  refreshList();
  if (S.live) setTimeout(poll, 1000);
  document.body.dataset.loaded = "1";
}

function showStatus() {
  $("#status").textContent = `${S.records} records: ${S.realizes.length} realizes, ${S.kernels.size} kernels, ` +
    `${S.passes.length} rewrite passes (${S.steps} rewrites), ${S.launches.length} launches`;
  $("#live").hidden = !S.live;
  $("#warnings").hidden = !S.warnings.length;
  $("#warnings").textContent = S.warnings.map((w) => "warning: " + w).join("\n");
}

// ---- the virtualised list: only the visible rows exist in the page ----

const ROW_H = 22;
function refreshList() {
  const f = S.filter.toLowerCase();
  const keep = (label) => !f || label.toLowerCase().includes(f);
  let rows = [];
  if (S.tab === "realizes") rows = S.realizes.map((r, i) => ({ label: realizeLabel(r, i), open: () => showRealize(i) }));
  else if (S.tab === "kernels") rows = S.kernelRefs.map((ref) => ({ label: kernelLabel(ref), open: () => showKernel(ref) }));
  else if (S.tab === "rewrites") rows = f ? S.passes.map(passRow) : passRows();
  else if (S.tab === "jit") rows = S.jits.map((j, i) => ({ label: `${j.fn}: ${j.kernels.length} kernels`, open: () => showJit(i) }));
  S.rows = f && Array.isArray(rows) ? rows.filter((r) => keep(r.label)) : rows;
  const list = $("#list");
  list.firstChild || list.appendChild(document.createElement("div"));
  drawRows();
  if (S.tab === "timeline") showTimeline();
  if (S.tab === "caches") showCaches();
}

function passRows() {
  // a row is built only when it scrolls into view: 100,000 passes cost no DOM
  return { length: S.passes.length, at: (i) => passRow(S.passes[i]) };
}
function passRow(p) {
  return { label: `#${p.index} ${p.name} · ${p.steps.length} rewrites · ${shortSite(p.site)}`, open: () => showPass(p.index, 0) };
}
const shortSite = (s) => s.split("/").slice(-2).join("/");
function rowAt(i) { return Array.isArray(S.rows) ? S.rows[i] : S.rows.at(i); }

function drawRows() {
  const list = $("#list"), spacer = list.firstChild;
  const n = S.rows.length, first = Math.max(0, Math.floor(list.scrollTop / ROW_H) - 5);
  const last = Math.min(n, first + Math.ceil(list.clientHeight / ROW_H) + 10);
  const key = [S.tab, S.filter, S.sel, S.records, n, first, last].join("|");
  if (spacer.dataset.key === key) return; // rows already drawn: keep the elements (and any pending click)
  spacer.dataset.key = key;
  spacer.style.height = n * ROW_H + "px";
  spacer.style.position = "relative";
  let html = "";
  for (let i = first; i < last; i++) {
    const r = rowAt(i);
    html += `<div class="row${S.sel === S.tab + i ? " sel" : ""}" data-i="${i}" style="top:${i * ROW_H}px">${esc(r.label)}</div>`;
  }
  spacer.innerHTML = html;
}

function realizeLabel(r, i) {
  const roots = r.graph.roots.length;
  return `#${i} realize: ${roots} output${roots === 1 ? "" : "s"}, ${r.kernels.length} kernels${r.hit ? " (schedule cache)" : ""}`;
}
function kernelLabel(ref) {
  const k = S.kernels.get(ref), runs = S.runs.get(ref) || [];
  const avg = runs.length ? runs.reduce((a, b) => a + b, 0) / runs.length : NaN;
  return `${k.name} · ${k.device} · ${runs.length} runs${runs.length ? " · " + fmtTime(avg) : ""}`;
}
const fmtTime = (s) => (s >= 1e-3 ? (s * 1e3).toFixed(2) + " ms" : (s * 1e6).toFixed(1) + " us");

// ---- graphs: layered layout, left to right, nodes coloured by op family ----

const FAMILY = [
  [/^(NEG|RECIP|SQRT|EXP2|LOG2|SIN|TRUNC|CAST|BITCAST)$/, "#9ad1ff", "unary"],
  [/^(ADD|SUB|MUL|FDIV|IDIV|MOD|MAX|CMPLT|CMPNE|CMPEQ|AND|OR|XOR|SHL|SHR|WHERE|MULACC)$/, "#ffd27a", "ALU"],
  [/^(REDUCE_AXIS|REDUCE|DEFINE_ACC)$/, "#ff9e80", "reduce"],
  [/^(RESHAPE|PERMUTE|EXPAND|PAD|SHRINK|FLIP|VIEW)$/, "#c5a3ff", "movement"],
  [/^(CONST|VCONST|DEFINE_VAR|BIND)$/, "#b8e0a0", "constant"],
  [/^(BUFFER|DEFINE_GLOBAL|DEFINE_LOCAL|INDEX|LOAD|STORE|COPY|ASSIGN|CONTIGUOUS|DETACH|DEVICE)$/, "#7fd6c8", "memory"],
  [/^(SINK|RANGE|ENDRANGE|IF|ENDIF|SPECIAL|BARRIER|VECTORIZE|GEP|NOOP)$/, "#d0d4dc", "control"],
];
function colorOf(op) { for (const [re, c] of FAMILY) if (re.test(op)) return c; return "#eeeeee"; }
const legend = () => '<div class="legend">' + FAMILY.map(([, c, n]) => `<span style="background:${c}">${n}</span>`).join("") +
  `<label><input type="checkbox" id="collapse"${S.collapse ? " checked" : ""}> collapse elementwise chains</label></div>`;
const ELEMENTWISE = /^(NEG|RECIP|SQRT|EXP2|LOG2|SIN|TRUNC|CAST|BITCAST|ADD|SUB|MUL|FDIV|IDIV|MOD|MAX|CMPLT|CMPNE|CMPEQ|AND|OR|XOR|SHL|SHR|WHERE|MULACC)$/;

function collapseChains(nodes, ids) {
  // an elementwise node whose only user is elementwise joins that user's box; chains of 3 or more become one node
  const users = new Map(), next = new Map();
  for (const id of ids) for (const s of nodes[id][3]) if (ids.has(s)) users.set(s, (users.get(s) || []).concat([id]));
  for (const id of ids) {
    const us = users.get(id) || [];
    if (ELEMENTWISE.test(nodes[id][0]) && us.length === 1 && ELEMENTWISE.test(nodes[us[0]][0])) next.set(id, us[0]);
  }
  const head = (id) => { while (next.has(id)) id = next.get(id); return id; };
  const groups = new Map();
  for (const id of [...ids].sort((a, b) => a - b)) { const h = head(id); groups.set(h, (groups.get(h) || []).concat([id])); }
  const out = nodes.slice(), keep = new Set(), rep = new Map();
  for (const [h, members] of groups) {
    const whole = members.length >= 3;
    for (const m of members) rep.set(m, whole ? h : m);
    for (const m of whole ? [h] : members) keep.add(m);
  }
  for (const [h, members] of groups) {
    if (members.length < 3) continue;
    const srcs = [...new Set(members.flatMap((m) => nodes[m][3]).map((s) => rep.get(s) ?? s).filter((s) => s !== h))];
    const ops = members.map((m) => nodes[m][0]).join(" > ");
    out[h] = [`${members.length} ops`, nodes[h][1], ops, srcs, nodes[h][4], null];
  }
  return { nodes: out, ids: keep };
}

function reachable(nodes, roots) {
  const seen = new Set(), todo = [...roots];
  while (todo.length) { const n = todo.pop(); if (!seen.has(n)) { seen.add(n); for (const s of nodes[n][3]) todo.push(s); } }
  return seen;
}

function around(nodes, ids, focus) {
  // the MAX_DRAWN nodes nearest to `focus` (sources and users), for graphs too large to draw whole
  const users = new Map();
  for (const id of ids) for (const s of nodes[id][3]) { if (!users.has(s)) users.set(s, []); users.get(s).push(id); }
  const keep = new Set(), queue = focus.filter((f) => ids.has(f));
  if (!queue.length) queue.push(Math.max(...ids));
  for (let qi = 0; qi < queue.length && keep.size < MAX_DRAWN; qi++) {
    const n = queue[qi];
    if (keep.has(n)) continue;
    keep.add(n);
    for (const m of nodes[n][3].concat(users.get(n) || [])) if (!keep.has(m)) queue.push(m);
  }
  return keep;
}

function layout(nodes, ids) {
  const order = [...ids].sort((a, b) => a - b); // tables list sources before users
  const layer = new Map(), cols = [];
  for (const id of order) {
    let l = 0;
    for (const s of nodes[id][3]) if (layer.has(s)) l = Math.max(l, layer.get(s) + 1);
    layer.set(id, l);
    (cols[l] = cols[l] || []).push(id);
  }
  const pos = new Map();
  cols.forEach((c, l) => c.forEach((id, i) => pos.set(id, i)));
  for (let l = 1; l < cols.length; l++) { // barycenter: each node near the average row of its sources
    const bary = (id) => { const ss = nodes[id][3].filter((s) => pos.has(s)); return ss.length ? ss.reduce((a, s) => a + pos.get(s), 0) / ss.length : pos.get(id); };
    const b = new Map(cols[l].map((id) => [id, bary(id)]));
    cols[l].sort((x, y) => b.get(x) - b.get(y));
    cols[l].forEach((id, i) => pos.set(id, i));
  }
  const W = 150, H = 30, GX = 60, GY = 14, xy = new Map();
  const tallest = Math.max(...cols.map((c) => c.length));
  cols.forEach((c, l) => { const off = (tallest - c.length) * (H + GY) / 2; c.forEach((id, i) => xy.set(id, [l * (W + GX), off + i * (H + GY)])); });
  return { xy, W, H, width: cols.length * (W + GX), height: tallest * (H + GY) };
}

function nodeLabel(n) {
  const arg = n[2] === null ? "" : String(n[2]);
  return arg && arg.length < 16 ? `${n[0]} ${arg}` : n[0];
}

function drawGraph(el, nodes, roots, marks = {}) {
  let ids = reachable(nodes, roots), note = "";
  if (ids.size > MAX_DRAWN) {
    const total = ids.size;
    ids = around(nodes, ids, [marks.before, marks.after].filter((x) => x !== undefined));
    note = `showing ${ids.size} of ${total} nodes, nearest the rewritten node`;
  }
  if (S.collapse) ({ nodes, ids } = collapseChains(nodes, ids));
  const L = layout(nodes, ids);
  let edges = "", boxes = "";
  for (const id of ids) {
    const [x, y] = L.xy.get(id), n = nodes[id];
    for (const s of n[3]) {
      if (!L.xy.has(s)) continue;
      const [sx, sy] = L.xy.get(s), x1 = sx + L.W, y1 = sy + L.H / 2, y2 = y + L.H / 2, mx = (x1 + x) / 2;
      edges += `<path class="edge" d="M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x},${y2}"/>`;
    }
    const cls = id === marks.before ? " before" : id === marks.after ? " after" : "";
    const tip = `${n[0]}  ${n[1]}${n[4] ? "  shape " + n[4] : ""}${n[2] !== null ? "\narg: " + n[2] : ""}${n[5] ? "\ntag: " + n[5] : ""}\n#${id}, ${n[3].length} sources`;
    boxes += `<g class="node${cls}" data-id="${id}" transform="translate(${x},${y})"><title>${esc(tip)}</title>` +
      `<rect width="${L.W}" height="${L.H}" fill="${colorOf(n[0])}"/><text x="6" y="13">${esc(nodeLabel(n).slice(0, 22))}</text>` +
      `<text x="6" y="25">${esc((n[1] + " " + (n[4] || "")).slice(0, 22))}</text></g>`;
  }
  el.innerHTML = `<svg class="graph" data-nodes="${ids.size}" width="100%" height="100%"><g class="vp">${edges}${boxes}</g></svg>` +
    (note ? `<div class="meta">${note}</div>` : "");
  panZoom(el.querySelector("svg"), L);
  return ids.size;
}

function panZoom(svg, L) {
  const vp = svg.querySelector(".vp"), box = svg.getBoundingClientRect();
  let k = Math.min(1, (box.width - 20) / Math.max(L.width, 1), (box.height - 20) / Math.max(L.height, 1));
  k = Math.max(k, 0.45); // big graphs open readable at their start (sources); drag and wheel to explore
  let tx = 10, ty = 10, drag = null;
  const apply = () => vp.setAttribute("transform", `translate(${tx},${ty}) scale(${k})`);
  apply();
  svg.addEventListener("wheel", (e) => {
    e.preventDefault();
    const r = svg.getBoundingClientRect(), mx = e.clientX - r.left, my = e.clientY - r.top, f = e.deltaY < 0 ? 1.15 : 1 / 1.15;
    tx = mx - (mx - tx) * f; ty = my - (my - ty) * f; k *= f; apply();
  }, { passive: false });
  svg.addEventListener("mousedown", (e) => { drag = [e.clientX - tx, e.clientY - ty]; });
  window.addEventListener("mouseup", () => { drag = null; });
  svg.addEventListener("mousemove", (e) => { if (drag) { tx = e.clientX - drag[0]; ty = e.clientY - drag[1]; apply(); } });
}

// ---- replaying a rewrite pass (the same algorithm as tg_uop.trace.replay) ----

function passTable(p) {
  if (!p.keys) {
    p.keys = new Map();
    p.graph.nodes.forEach((n, i) => p.keys.set(nodeKey(n), i));
  }
  return p;
}
const nodeKey = (n) => JSON.stringify([n[0], n[1], n[2], n[3], n[5]]);

function replay(p, upto) {
  passTable(p);
  const nodes = p.graph.nodes.slice(), keys = new Map(p.keys), repl = new Map(), done = new Map();
  for (const [b, a] of p.steps.slice(0, upto)) repl.set(b, a);
  const rebuilt = (n, srcs) => {
    if (srcs.every((s, i) => s === nodes[n][3][i])) return n;
    const row = [nodes[n][0], nodes[n][1], nodes[n][2], srcs, nodes[n][4], nodes[n][5]], key = nodeKey(row);
    if (!keys.has(key)) { keys.set(key, nodes.length); nodes.push(row); }
    return keys.get(key);
  };
  const stack = [[p.root, 0, -1]];
  let budget = 20 * (nodes.length + repl.size) + 1000;
  while (stack.length) {
    if (--budget < 0) throw new Error("replay: the steps do not reach a fixed point");
    const [n, stage, target] = stack.pop();
    if (done.has(n)) continue;
    if (stage === 2) {
      if (done.has(target)) done.set(n, done.get(target)); else stack.push([n, 2, target], [target, 0, -1]);
    } else if (stage === 0 && repl.has(n)) {
      if (p.once) done.set(n, repl.get(n)); else stack.push([n, 2, repl.get(n)]);
    } else if (stage === 0) {
      stack.push([n, 1, -1]);
      const srcs = nodes[n][3];
      for (let i = srcs.length - 1; i >= 0; i--) if (!done.has(srcs[i])) stack.push([srcs[i], 0, -1]);
    } else {
      const m = rebuilt(n, nodes[n][3].map((s) => done.get(s)));
      if (repl.has(m) && m !== n) stack.push([n, 2, m]);
      else { if (!done.has(m)) done.set(m, m); done.set(n, done.get(m)); }
    }
  }
  return { root: done.get(p.root), nodes };
}

// ---- views ----

function view(html, redraw = null) { $("#main").innerHTML = html; S.redraw = redraw; return $("#main"); }

function showRealize(i) {
  const r = S.realizes[i];
  const links = r.kernels.map((ref) => S.kernels.has(ref) ? `<a class="link" data-kernel="${ref}">${esc(S.kernels.get(ref).name)}</a>` : `<span class="meta">kernel ${ref} (compiled before)</span>`).join("");
  const m = view(`<h2>realize #${i}</h2><div class="meta">${r.graph.nodes.length} nodes in the tensor graph, cut into ${r.kernels.length} kernels${r.hit ? ", schedule from the schedule cache" : ""}</div>` +
    `<div class="bar">kernels: ${links || "none"}</div>${legend()}<div id="graph" class="graph-box"></div>`, () => showRealize(i));
  drawGraph(m.querySelector("#graph"), r.graph.nodes, r.graph.roots);
}

function showKernel(ref, part = "ast") {
  const k = S.kernels.get(ref), runs = S.runs.get(ref) || [];
  const avg = runs.length ? runs.reduce((a, b) => a + b, 0) / runs.length : NaN;
  const perf = runs.length ? ` · ${runs.length} runs, avg ${fmtTime(avg)} · ${(k.ops / avg / 1e9).toFixed(3)} GFLOP/s · ${(k.mem / avg / 1e9).toFixed(3)} GB/s` : " · not run yet";
  const tabs = ["ast", "program", "source"].map((t) => `<button data-part="${t}" class="${t === part ? "on" : ""}">${{ ast: "kernel AST", program: "loop program", source: "source" }[t]}</button>`).join("");
  const m = view(`<h2 id="kernel-name">${esc(k.name)}</h2><div class="meta">${esc(k.device)} · opts ${esc(k.opts.join(", ") || "none")}${perf}</div>` +
    `<div class="bar" id="kernel-parts" data-ref="${ref}">${tabs}</div><div id="part" class="graph-box"></div>`, () => showKernel(ref, part));
  const el = m.querySelector("#part");
  if (part === "ast") { el.insertAdjacentHTML("beforebegin", legend()); drawGraph(el, k.ast.nodes, k.ast.roots); }
  else if (part === "program") el.innerHTML = `<pre id="program">${esc(listing(k.program))}</pre>`;
  else el.innerHTML = `<pre id="source">${highlight(k.src)}</pre>`;
}

function listing(g) {
  const pos = new Map(g.roots.map((id, i) => [id, i]));
  return g.roots.map((id, i) => {
    const n = g.nodes[id], srcs = n[3].filter((s) => pos.has(s)).map((s) => "%" + pos.get(s)).join(" ");
    return `%${String(i).padEnd(4)} ${n[0].padEnd(13)} ${String(n[1]).padEnd(14)} ${srcs}${n[2] !== null ? " " + n[2] : ""}`;
  }).join("\n");
}

const C_WORDS = /^(if|else|for|while|return|const|restrict|static|inline|void|float|double|half|int|long|unsigned|char|short|bool|uint|uchar|ushort|ulong|__kernel|kernel|__global|global|__local|local|__global__|__shared__|extern|struct|typedef|sizeof|barrier|float2|float4|float8|int2|int4)$/;
function highlight(src) {
  const re = /(\/\/[^\n]*|\/\*[\s\S]*?\*\/)|("(?:[^"\\]|\\.)*")|(\b\d+(?:\.\d*)?(?:e[+-]?\d+)?[fFuUlL]*\b)|([A-Za-z_]\w*)|([\s\S])/g;
  let out = "", m;
  while ((m = re.exec(src))) {
    if (m[1]) out += `<span class="c">${esc(m[1])}</span>`;
    else if (m[2]) out += `<span class="s">${esc(m[2])}</span>`;
    else if (m[3]) out += `<span class="n">${esc(m[3])}</span>`;
    else if (m[4]) out += C_WORDS.test(m[4]) ? `<span class="k">${m[4]}</span>` : esc(m[4]);
    else out += esc(m[5]);
  }
  return out;
}

function showPass(i, k) {
  const p = S.passes[i], n = p.steps.length;
  k = Math.max(0, Math.min(n, k));
  const cur = replay(p, k), step = k > 0 ? p.steps[k - 1] : null, nextStep = k < n ? p.steps[k] : null;
  const rule = step ? S.rules.get(step[2]) : null;
  const ruleHtml = rule ? `<div class="meta" id="rule-where">step ${k}: ${esc(rule.name)} at ${esc(rule.file)}:${rule.line}</div><pre id="rule-src">${highlightPy(rule.src)}</pre>` :
    `<div class="meta" id="rule-where">the pass's input graph; step forward to see each rewrite</div>`;
  const m = view(`<h2>rewrite pass #${i}: ${esc(p.name)}</h2><div class="meta">${esc(p.site)} · ${n} rewrites${p.once ? " · each node rewritten once" : ""}</div>` +
    `<div class="bar" id="stepper" data-pass="${i}" data-step="${k}"><button id="step-first">|&lt;</button><button id="step-prev">&lt; prev</button>` +
    `<input id="step-range" type="range" min="0" max="${n}" value="${k}" style="width:300px"><button id="step-next">next &gt;</button><button id="step-last">&gt;|</button>` +
    `<span id="step-label">step ${k} of ${n}</span><span class="meta">red: matched by the next rule · green: made by this step's rule</span></div>` +
    `${ruleHtml}${legend()}<div id="graph" class="graph-box"></div>`, () => showPass(i, k));
  drawGraph(m.querySelector("#graph"), cur.nodes, [cur.root], { before: nextStep ? nextStep[0] : undefined, after: step ? step[1] : undefined });
}

function highlightPy(src) {
  return esc(src).replace(/\b(lambda|def|return|if|else|and|or|not|is|None|in|for)\b/g, '<span class="k">$1</span>')
    .replace(/(#[^\n]*)/g, '<span class="c">$1</span>');
}

function showJit(i) {
  const j = S.jits[i];
  const links = j.kernels.map((ref) => S.kernels.has(ref) ? `<a class="link" data-kernel="${ref}">${esc(S.kernels.get(ref).name)}</a>` : `kernel ${ref}`).join(" ");
  view(`<h2>TinyJit capture of ${esc(j.fn)}</h2><div class="meta">${j.kernels.length} kernels replayed on each later call</div><div class="bar">${links}</div>`);
}

function showCaches() {
  const row = (what, [hit, miss]) => `<tr><td>${what}</td><td>${hit}</td><td>${miss}</td><td>${hit + miss ? ((100 * hit) / (hit + miss)).toFixed(1) + " %" : "-"}</td></tr>`;
  view(`<h2>caches</h2><table id="caches"><tr><th>cache</th><th>hits</th><th>misses</th><th>hit rate</th></tr>${row("schedule cache", S.cache.schedule)}${row("compile cache (disk)", S.cache.compile)}</table>`);
}

function timeTable() {
  // where the device time went: the 30 kernels (and copies) with the most total run time
  const by = new Map();
  for (const l of S.launches) { const key = l.device + " " + l.name, e = by.get(key) || [0, 0]; e[0]++; e[1] += l.dt; by.set(key, e); }
  const total = S.launches.reduce((a, l) => a + l.dt, 0) || 1;
  const rows = [...by].sort((a, b) => b[1][1] - a[1][1]).slice(0, 30)
    .map(([key, [n, t]]) => `<tr><td>${esc(key)}</td><td>${n}</td><td>${fmtTime(t)}</td><td>${((100 * t) / total).toFixed(1)} %</td></tr>`).join("");
  return `<table id="time-table"><tr><th>device and kernel</th><th>runs</th><th>total</th><th>share</th></tr>${rows}</table>`;
}

function showTimeline() {
  const devices = [...new Set(S.launches.map((l) => l.device))];
  const m = view(`<h2>timeline</h2><div class="meta">kernel (blue) and copy (orange) run times per device; ${S.launches.length} launches; hover for names</div><canvas id="timeline" height="${40 + devices.length * 40}"></canvas><div id="tl-tip" class="meta"></div>${timeTable()}`);
  const cv = m.querySelector("#timeline"), ctx = cv.getContext("2d");
  cv.width = m.clientWidth - 30;
  if (!S.launches.length) return;
  const t0 = Math.min(...S.launches.map((l) => l.t - l.dt)), t1 = Math.max(...S.launches.map((l) => l.t));
  const sx = (t) => 90 + ((t - t0) / Math.max(t1 - t0, 1e-9)) * (cv.width - 100);
  ctx.fillStyle = "#9aa3b2"; ctx.font = "12px sans-serif";
  devices.forEach((d, i) => ctx.fillText(d, 4, 34 + i * 40));
  const boxes = [];
  for (const l of S.launches) {
    const y = 18 + devices.indexOf(l.device) * 40, x = sx(l.t - l.dt), w = Math.max(1, sx(l.t) - x);
    ctx.fillStyle = l.ref === null ? "#ffb86c" : "#82aaff"; ctx.fillRect(x, y, w, 24);
    boxes.push([x, y, w, l]);
  }
  ctx.fillStyle = "#9aa3b2"; ctx.fillText(`${(t1 - t0).toFixed(3)} s`, cv.width - 60, 12);
  cv.onmousemove = (e) => {
    const r = cv.getBoundingClientRect(), x = e.clientX - r.left, y = e.clientY - r.top;
    const hit = boxes.find(([bx, by, bw]) => x >= bx - 1 && x <= bx + bw + 1 && y >= by && y <= by + 24);
    $("#tl-tip").textContent = hit ? `${hit[3].name} on ${hit[3].device}: ${fmtTime(hit[3].dt)}` : "";
  };
}

// ---- wiring ----

document.addEventListener("click", (e) => {
  const t = e.target;
  if (t.dataset.tab) { S.tab = t.dataset.tab; S.sel = null; S.filter = $("#filter").value = ""; $("#list").scrollTop = 0; setTab(); refreshList(); }
  else if (t.classList.contains("row")) { const i = +t.dataset.i; S.sel = S.tab + i; rowAt(i).open(); drawRows(); }
  else if (t.dataset.kernel !== undefined) showKernel(+t.dataset.kernel);
  else if (t.dataset.part) showKernel(+$("#kernel-parts").dataset.ref, t.dataset.part);
  else if (t.id && t.id.startsWith("step-") && t.tagName === "BUTTON") {
    const st = $("#stepper"), i = +st.dataset.pass, k = +st.dataset.step, n = S.passes[i].steps.length;
    showPass(i, { "step-first": 0, "step-prev": k - 1, "step-next": k + 1, "step-last": n }[t.id]);
  }
});
document.addEventListener("change", (e) => {
  if (e.target.id === "collapse") { S.collapse = e.target.checked; if (S.redraw) S.redraw(); }
});
document.addEventListener("change", (e) => { if (e.target.id === "step-range") showPass(+$("#stepper").dataset.pass, +e.target.value); });
document.addEventListener("keydown", (e) => {
  const st = $("#stepper");
  if (!st || e.target.tagName === "INPUT" && e.target.type !== "range") return;
  if (e.key === "ArrowRight" || e.key === "ArrowLeft") showPass(+st.dataset.pass, +st.dataset.step + (e.key === "ArrowRight" ? 1 : -1));
});
$("#list").addEventListener("scroll", drawRows);
$("#filter").addEventListener("input", (e) => { S.filter = e.target.value; refreshList(); });
function setTab() { document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("on", b.dataset.tab === S.tab)); }
setTab();
poll();
