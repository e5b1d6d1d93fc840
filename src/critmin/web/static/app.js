/* critmin dashboard: a single page over the JSON API (/api, described at /openapi.json).
 *
 * Pages are hash routes (#/overview, #/scenarios[/NAME], #/runs, #/runs/ID, #/compare?a=ID&b=ID,
 * #/criticality, #/jobs, #/api). Everything is built with DOM calls and textContent: no data is
 * ever written as HTML. Long work is a job polled every 500 ms at /api/jobs/{id}.
 *
 * Token: when the server has one, the API answers 401 until the page sends
 * "Authorization: Bearer <token>". The page asks once and keeps it in sessionStorage (this tab
 * only); /#token=... (or /?token=...) stores it the same way and is then removed from the
 * address bar.
 */
"use strict";

(function () {
  const TOKEN_KEY = "critmin-token";
  const POLL_MS = 500;
  const PLOT_CONFIG = {
    displaylogo: false, responsive: true, showLink: false, modeBarButtonsToRemove: ["sendDataToCloud"],
  };
  const view = document.getElementById("view");
  let generation = 0; // bumped on every navigation: pollers of an older page stop

  // -- the token ---------------------------------------------------------------------------------
  /* /#token=... (never sent to the server) or /?token=... (reaches the server's access log):
     kept in sessionStorage, then removed from the address bar. */
  function takeTokenFromUrl() {
    const url = new URL(window.location.href);
    let token = url.searchParams.get("token");
    url.searchParams.delete("token");
    if (url.hash.startsWith("#token=")) {
      token = decodeURIComponent(url.hash.slice("#token=".length));
      url.hash = "#/overview";
    }
    if (token) {
      sessionStorage.setItem(TOKEN_KEY, token);
      history.replaceState(null, "", url.pathname + url.search + url.hash);
    }
  }

  let asking = null;
  function askToken(message) {
    if (asking) return asking;
    const dialog = document.getElementById("token-dialog");
    const form = document.getElementById("token-form");
    const input = document.getElementById("token-input");
    document.getElementById("token-error").textContent = message || "";
    input.value = "";
    asking = new Promise((resolve) => {
      form.addEventListener("submit", function onSubmit(ev) {
        ev.preventDefault();
        const value = input.value.trim();
        if (!value) return;
        sessionStorage.setItem(TOKEN_KEY, value);
        form.removeEventListener("submit", onSubmit);
        dialog.close();
        asking = null;
        resolve();
      });
    });
    dialog.showModal();
    return asking;
  }

  // -- the API -----------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, message, body) {
      super(message);
      this.status = status;
      this.body = body;
    }
  }

  async function request(path, options) {
    const opts = options || {};
    const headers = { Accept: "application/json" };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = "Bearer " + token;
    let body;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers["Content-Type"] = "application/json";
    }
    const resp = await fetch(path, { method: opts.method || "GET", headers, body, credentials: "same-origin" });
    if (resp.status === 401) {
      let msg = "";
      try { msg = (await resp.json()).error || ""; } catch (e) { msg = ""; }
      sessionStorage.removeItem(TOKEN_KEY);
      await askToken(token ? "That token was not accepted: " + msg : "");
      return request(path, options);
    }
    return resp;
  }

  async function api(path, options) {
    const resp = await request(path, options);
    const type = resp.headers.get("content-type") || "";
    const data = type.includes("application/json") ? await resp.json() : await resp.text();
    if (!resp.ok) {
      const msg = data && data.error ? data.error : "HTTP " + resp.status;
      throw new ApiError(resp.status, msg, data);
    }
    return data;
  }

  async function download(path, filename) {
    const resp = await request(path);
    if (!resp.ok) {
      let msg = "HTTP " + resp.status;
      try { msg = (await resp.json()).error || msg; } catch (e) { /* not JSON */ }
      throw new ApiError(resp.status, msg, null);
    }
    const blob = await resp.blob();
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: filename });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // -- DOM helpers -------------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function link(href, text) { return el("a", { href }, text); }
  function runHref(id) { return "#/runs/" + encodeURIComponent(id); }
  function errorBox(err) {
    return el("p", { class: "error", role: "alert" }, err instanceof Error ? err.message : String(err));
  }

  const SHARE = /(share|coverage|^p_|_p$|probability|reliance)/;
  const PLAIN_INT = /(year|seed|draws|months|month_|rank|rounds)/;
  function fmt(value, column) {
    if (value === null || value === undefined || value === "") return value === "" ? "" : "—";
    if (typeof value === "boolean") return value ? "yes" : "no";
    if (typeof value === "number") {
      const col = column || "";
      if (SHARE.test(col) && Math.abs(value) <= 1.5) return (value * 100).toFixed(1).replace(/^-(0\.0)$/, "$1") + "%";
      if (Number.isInteger(value) && PLAIN_INT.test(col)) return String(value);
      const a = Math.abs(value);
      if (a === 0) return "0";
      if (a >= 1000) return value.toLocaleString("en-US", { maximumFractionDigits: 0 });
      if (a >= 1) return value.toLocaleString("en-US", { maximumFractionDigits: 2 });
      return value.toPrecision(3);
    }
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  /* A table document ({key, caption, columns, rows, total_rows}) as an element. options:
     links {column: row => href}, select (row => bool | null: a checkbox when not null),
     onSelect(rows), signed [columns coloured by sign], limit (rows shown). */
  function tableView(doc, options) {
    const opts = options || {};
    const rows = opts.limit ? doc.rows.slice(0, opts.limit) : doc.rows;
    const selected = new Set();
    const head = el("tr", {}, opts.select ? el("th", {}, "") : null, doc.columns.map((c) => el("th", {}, c)));
    const body = rows.map((row) => {
      const tr = el("tr");
      if (opts.select) {
        const ok = opts.select(row);
        const box = ok === null ? null : el("input", { type: "checkbox", "aria-label": "select " + (row.run_id || "") });
        if (box) {
          box.addEventListener("change", () => {
            if (box.checked) selected.add(row); else selected.delete(row);
            tr.classList.toggle("selected", box.checked);
            if (opts.onSelect) opts.onSelect([...selected]);
          });
        }
        tr.append(el("td", {}, box));
      }
      for (const c of doc.columns) {
        const v = row[c];
        const numeric = typeof v === "number";
        let cls = numeric ? "num" : "";
        if (numeric && opts.signed && opts.signed.includes(c) && v !== 0) cls += v > 0 ? " pos" : " neg";
        const href = opts.links && opts.links[c] ? opts.links[c](row) : null;
        tr.append(el("td", { class: cls || null }, href ? link(href, fmt(v, c)) : fmt(v, c)));
      }
      return tr;
    });
    const shown = rows.length < doc.total_rows ? ` (first ${rows.length} of ${doc.total_rows} rows)` : "";
    return el("div", { class: "table", "data-table": doc.key },
      doc.caption ? el("p", { class: "caption" }, el("b", {}, doc.caption), shown) : null,
      doc.rows.length ? el("div", { class: "tablewrap" }, el("table", {}, el("thead", {}, head), el("tbody", {}, body)))
        : el("p", { class: "muted" }, "no rows"));
  }

  function figureView(doc) {
    const div = el("div", { class: "figure", "data-figure": doc.key, id: "fig-" + doc.key + "-" + Math.random().toString(36).slice(2, 8) });
    setTimeout(() => {
      if (div.isConnected) Plotly.newPlot(div, doc.figure.data, doc.figure.layout, PLOT_CONFIG);
    }, 0);
    return el("figure", {}, div, doc.caption ? el("figcaption", {}, doc.caption) : null);
  }

  function metaList(obj, keys) {
    const dl = el("dl", { class: "meta" });
    for (const k of keys || Object.keys(obj)) {
      if (obj[k] === undefined) continue;
      dl.append(el("dt", {}, k), el("dd", {}, fmt(obj[k], k)));
    }
    return dl;
  }

  function clearView() {
    for (const plot of view.querySelectorAll(".js-plotly-plot")) Plotly.purge(plot);
    view.replaceChildren();
  }

  function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

  // -- jobs --------------------------------------------------------------------------------------
  /* Show a job in `panel` and poll it until it is done or failed (or the page changed); resolve
     with its final state. */
  async function watchJob(job, panel) {
    const gen = generation;
    const state = el("span", { class: "state" });
    const bar = el("div", { class: "bar" }, el("div"));
    const info = el("span", { class: "muted" });
    const err = el("p", { class: "error job-error", role: "alert" });
    const box = el("div", { class: "job", "data-job": job.id }, el("b", {}, job.label), state, bar, info, err);
    panel.replaceChildren(box);
    let current = job;
    for (;;) {
      state.textContent = current.state;
      state.className = "state " + current.state;
      const frac = current.progress;
      bar.classList.toggle("indeterminate", current.state === "running" && (frac === null || frac === undefined));
      bar.firstChild.style.width = frac === null || frac === undefined ? "" : Math.round(frac * 100) + "%";
      const secs = current.seconds === null || current.seconds === undefined ? "" : ` ${current.seconds.toFixed(1)} s`;
      info.textContent = current.total ? `${current.done.toLocaleString()} of ${current.total.toLocaleString()} draws${secs}` : secs;
      if (current.state === "done" || current.state === "failed") {
        bar.classList.remove("indeterminate");
        if (current.state === "failed") err.textContent = current.error;
        return current;
      }
      await sleep(POLL_MS);
      if (gen !== generation) return current;
      current = await api("/api/jobs/" + encodeURIComponent(job.id));
    }
  }

  // -- pages -------------------------------------------------------------------------------------
  async function overviewPage(root) {
    root.append(el("h1", {}, "Concentration by material and stage"), el("p", { class: "lead loading" }, "loading…"));
    const doc = await api("/api/overview");
    root.querySelector(".lead").replaceWith(el("p", { class: "lead" },
      `Shares of world output by country, per stage (base year ${doc.base_year}; data ${doc.fingerprint.slice(0, 12)}).`));
    for (const f of doc.figures) root.append(el("section", { class: "card" }, figureView(f)));
    root.append(el("section", { class: "card" }, tableView(doc.table)));
  }

  async function scenariosPage(root, parts) {
    const name = parts[1] || null;
    const list = el("section", { class: "card", id: "scenario-list" }, el("h2", {}, "Built-in scenarios"), el("p", { class: "loading" }, "loading…"));
    const editorCard = el("section", { class: "card", id: "scenario-editor" });
    root.append(el("h1", {}, "Scenarios"), el("p", { class: "lead" },
      "Open a built-in scenario or a template, edit its TOML, validate it and run it (a deterministic run, or an ensemble over its [[uncertain]] entries)."),
    el("div", { class: "grid-side" }, list, editorCard));
    const editor = buildEditor(editorCard);
    api("/api/scenarios").then((doc) => {
      const table = tableView({ key: "scenarios", caption: "", columns: ["name", "months", "events", "description"], rows: doc.scenarios, total_rows: doc.scenarios.length },
        { links: { name: (r) => "#/scenarios/" + encodeURIComponent(r.name) } });
      const tmpl = el("button", { type: "button", id: "template-btn", onclick: () => editor.loadTemplate() }, "New from template");
      list.replaceChildren(el("h2", {}, "Built-in scenarios"), table, el("div", { class: "controls" }, tmpl));
    }).catch((e) => list.append(errorBox(e)));
    if (name) await editor.loadBuiltin(name);
    else await editor.loadTemplate();
  }

  function buildEditor(card) {
    const title = el("h2", { id: "editor-title" }, "Editor");
    const gutter = el("pre", { class: "gutter", "aria-hidden": "true" });
    const text = el("textarea", { id: "scenario-text", spellcheck: "false", wrap: "off", "aria-label": "scenario TOML" });
    const problems = el("ul", { class: "problems", id: "problems", "aria-live": "polite" });
    const note = el("p", { class: "valid-note", id: "valid-note" });
    const engine = el("select", { id: "run-engine" }, ["fast", "compiled", "lp"].map((e) => el("option", { value: e }, e)));
    const mode = el("select", { id: "run-mode" }, el("option", { value: "" }, "the scenario's"),
      ["market", "coordinated", "both"].map((m) => el("option", { value: m }, m)));
    const draws = el("input", { type: "number", id: "mc-draws", min: "1", max: "100000", value: "200" });
    const seed = el("input", { type: "number", id: "mc-seed", min: "0", placeholder: "scenario's" });
    const runBtn = el("button", { type: "button", class: "primary", id: "run-btn" }, "Run");
    const mcBtn = el("button", { type: "button", class: "primary", id: "mc-btn" }, "Run ensemble");
    const validateBtn = el("button", { type: "button", id: "validate-btn" }, "Validate");
    const jobPanel = el("div", { id: "job-panel" });
    const result = el("div", { id: "job-result" });
    card.replaceChildren(title, el("div", { class: "editor" }, gutter, text), problems, note,
      el("div", { class: "controls" }, validateBtn),
      el("h3", {}, "Run"),
      el("div", { class: "controls" },
        el("label", { class: "field" }, "engine", engine), el("label", { class: "field" }, "mode", mode), runBtn),
      el("h3", {}, "Ensemble (Monte Carlo)"),
      el("div", { class: "controls" },
        el("label", { class: "field" }, "draws", draws), el("label", { class: "field" }, "seed", seed), mcBtn),
      jobPanel, result);

    let bad = new Map();
    function drawGutter() {
      const n = text.value.split("\n").length;
      const spans = [];
      for (let i = 1; i <= n; i++) {
        const msg = bad.get(i);
        spans.push(el("span", { class: msg ? "bad" : null, title: msg || null, "data-line": i }, String(i)));
      }
      gutter.replaceChildren(...spans);
      gutter.scrollTop = text.scrollTop;
    }
    function goToLine(line) {
      const lines = text.value.split("\n");
      let start = 0;
      for (let i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
      const end = start + (lines[line - 1] || "").length;
      text.focus();
      text.setSelectionRange(start, end);
      text.scrollTop = Math.max(0, (line - 4) * 18);
    }
    function showProblems(list) {
      bad = new Map();
      problems.replaceChildren();
      for (const p of list || []) {
        if (p.line) bad.set(p.line, p.message);
        problems.append(el("li", { "data-line": p.line || "" },
          p.line ? el("button", { type: "button", onclick: () => goToLine(p.line) }, "line " + p.line) : null, p.message));
      }
      drawGutter();
    }
    async function validate() {
      const doc = await api("/api/scenarios/validate", { method: "POST", body: { toml: text.value } });
      showProblems(doc.errors);
      if (doc.valid) {
        const s = doc.scenario;
        note.className = "valid-note ok";
        note.textContent = `valid: ${s.name}, ${s.start} + ${s.months} months, ${s.mode} mode; ${s.disruptions} disruption(s), ` +
          `${s.outages} outage(s), ${s.stockpiles} stockpile(s), ${s.projects} project(s), ${s.uncertain} [[uncertain]] entr${s.uncertain === 1 ? "y" : "ies"}`;
      } else {
        note.className = "valid-note error";
        note.textContent = "not a valid scenario: see the marked line";
      }
      return doc.valid;
    }
    let timer = null;
    text.addEventListener("input", () => {
      drawGutter();
      clearTimeout(timer);
      timer = setTimeout(() => validate().catch(() => {}), 700);
    });
    text.addEventListener("scroll", () => { gutter.scrollTop = text.scrollTop; });
    validateBtn.addEventListener("click", () => validate().catch((e) => { note.className = "valid-note error"; note.textContent = e.message; }));

    async function start(path, body, done) {
      result.replaceChildren();
      runBtn.disabled = mcBtn.disabled = true;
      try {
        const job = await api(path, { method: "POST", body });
        showProblems([]);
        const final = await watchJob(job, jobPanel);
        if (final.state === "done") done(final.result);
      } catch (e) {
        if (e.body && e.body.errors) showProblems(e.body.errors);
        jobPanel.replaceChildren(errorBox(e));
      } finally {
        runBtn.disabled = mcBtn.disabled = false;
      }
    }
    runBtn.addEventListener("click", () => {
      const body = { toml: text.value, engine: engine.value };
      if (mode.value) body.mode = mode.value;
      start("/api/jobs/run", body, (res) => {
        const ids = Object.entries(res.run_ids);
        result.append(el("p", {}, "stored: ", ids.map(([m, id], i) => [i ? ", " : "", m + " ", link(runHref(id), id)])));
        if (ids.length === 2) {
          const a = res.run_ids.market, b = res.run_ids.coordinated;
          result.append(el("p", {}, link(`#/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`, "compare market with coordinated")));
        }
        if (res.value_of_cooperation) {
          const rows = res.value_of_cooperation;
          result.append(tableView({ key: "value-of-cooperation", caption: "Value of cooperation (t over the horizon)", columns: rows.length ? Object.keys(rows[0]) : [], rows, total_rows: rows.length }));
        }
        for (const n of res.notes) result.append(el("p", { class: "muted" }, "note: " + n));
      });
    });
    mcBtn.addEventListener("click", () => {
      const body = { toml: text.value, draws: Number(draws.value) };
      if (seed.value !== "") body.seed = Number(seed.value);
      start("/api/jobs/mc", body, (res) => {
        result.append(el("p", {}, "stored: ", link(runHref(res.run_id), res.run_id)), tableView(res.metrics),
          res.notes.map((n) => el("p", { class: "muted" }, "note: " + n)));
      });
    });

    function load(heading, toml) {
      title.textContent = heading;
      text.value = toml;
      text.scrollTop = 0;
      showProblems([]);
      validate().catch(() => {});
    }
    return {
      async loadBuiltin(name) {
        try {
          const doc = await api("/api/scenarios/" + encodeURIComponent(name));
          load("Editor: " + doc.name, doc.toml);
        } catch (e) { card.prepend(errorBox(e)); }
      },
      async loadTemplate() {
        const doc = await api("/api/scenarios/template?name=my-scenario");
        load("Editor: new scenario (template)", doc.toml);
      },
    };
  }

  async function runsPage(root) {
    root.append(el("h1", {}, "Stored runs"), el("p", { class: "lead" },
      "Deterministic runs (kind run) and Monte Carlo ensembles (kind mc) in the store, newest first: the dashboard's and the command line's. Tick two deterministic runs to compare them."));
    const filter = el("input", { type: "text", id: "runs-filter", placeholder: "filter by scenario or id" });
    const compareBtn = el("button", { type: "button", class: "primary", id: "compare-btn", disabled: true }, "Compare the two ticked");
    const holder = el("div", { id: "runs-table" }, el("p", { class: "loading" }, "loading…"));
    root.append(el("div", { class: "controls" }, filter, compareBtn), holder);
    const doc = await api("/api/runs");
    let picked = [];
    compareBtn.addEventListener("click", () => {
      if (picked.length === 2) location.hash = `#/compare?a=${encodeURIComponent(picked[0].run_id)}&b=${encodeURIComponent(picked[1].run_id)}`;
    });
    function draw() {
      const q = filter.value.trim().toLowerCase();
      const rows = doc.runs.filter((r) => !q || r.run_id.toLowerCase().includes(q) || String(r.scenario).toLowerCase().includes(q));
      const table = { key: "runs", caption: `${rows.length} run(s)`, columns: ["run_id", "kind", "scenario", "engine", "mode", "seed", "draws", "created_utc"], rows, total_rows: rows.length };
      picked = [];
      compareBtn.disabled = true;
      holder.replaceChildren(tableView(table, {
        links: { run_id: (r) => runHref(r.run_id) },
        select: (r) => (r.kind === "run" ? true : null),
        onSelect: (sel) => { picked = sel; compareBtn.disabled = sel.length !== 2; },
      }));
    }
    filter.addEventListener("input", draw);
    draw();
  }

  function reportView(content) {
    const out = el("div", { class: "report" });
    for (const s of content.sections) {
      out.append(el("section", { id: "section-" + s.key, "data-section": s.key }, el("h2", {}, s.heading),
        s.paragraphs.map((p) => el("p", {}, p)), s.figures.map(figureView), s.tables.map((t) => tableView(t))));
    }
    return out;
  }

  async function computeReport(runId, panel) {
    const job = await api("/api/jobs/report", { method: "POST", body: { run_id: runId } });
    const final = await watchJob(job, panel);
    if (final.state !== "done") return null;
    return api("/api/runs/" + encodeURIComponent(runId) + "/report");
  }

  async function runPage(root, parts) {
    const id = parts[1];
    root.append(el("h1", {}, "Run ", el("span", { class: "mono" }, id)));
    const doc = await api("/api/runs/" + encodeURIComponent(id));
    root.append(el("section", { class: "card" }, el("h2", {}, doc.kind === "mc" ? "Monte Carlo ensemble" : "Deterministic run"), metaList(doc.run)));
    if (doc.summary) root.append(el("section", { class: "card" }, tableView(doc.summary)));
    const panel = el("div", { id: "report-job" });
    const dl = el("button", { type: "button", id: "download-report", disabled: true }, "Download the HTML report");
    const holder = el("div", { id: "report" });
    root.append(el("section", { class: "card" }, el("h2", {}, "Report"),
      el("p", { class: "muted" }, "The report re-runs the stored scenario (an ensemble: its draws) and draws its figures."),
      el("div", { class: "controls" }, dl), panel, holder));
    dl.addEventListener("click", () => download(`/api/runs/${encodeURIComponent(id)}/report.html`, `critmin-report-${id}.html`)
      .catch((e) => panel.append(errorBox(e))));
    const content = await computeReport(id, panel);
    if (content) {
      dl.disabled = false;
      holder.replaceChildren(el("p", { class: "muted" }, content.subtitle), reportView(content));
    }
  }

  async function comparePage(root, parts, params) {
    const a = params.get("a") || "", b = params.get("b") || "";
    root.append(el("h1", {}, "Compare two runs"), el("p", { class: "lead" },
      "Two stored deterministic runs side by side (e.g. market against coordinated, or with and without a stockpile): their summaries, the difference of shortfall per material and region (B - A), and their shortfall figures."));
    const runs = (await api("/api/runs")).runs.filter((r) => r.kind === "run");
    const pick = (id, value) => el("select", { id }, el("option", { value: "" }, "choose a run"),
      runs.map((r) => el("option", { value: r.run_id, selected: r.run_id === value }, `${r.run_id} (${r.mode}, ${r.engine})`)));
    const selA = pick("compare-a", a), selB = pick("compare-b", b);
    const go = el("button", { type: "button", class: "primary", id: "compare-go" }, "Compare");
    go.addEventListener("click", () => {
      if (selA.value && selB.value) location.hash = `#/compare?a=${encodeURIComponent(selA.value)}&b=${encodeURIComponent(selB.value)}`;
    });
    const swap = el("button", { type: "button", onclick: () => { const t = selA.value; selA.value = selB.value; selB.value = t; } }, "swap");
    root.append(el("div", { class: "controls" }, el("label", { class: "field" }, "run A", selA), swap,
      el("label", { class: "field" }, "run B", selB), go));
    if (!a || !b) return;
    const doc = await api(`/api/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
    const side = (label, part) => el("section", { class: "card" }, el("h2", {}, label + ": ", link(runHref(part.run.run_id), part.run.run_id)),
      metaList(part.run, ["scenario", "engine", "mode", "seed", "created_utc"]), tableView(part.summary, { limit: 30 }));
    root.append(el("div", { class: "grid2", id: "compare-sides" }, side("A", doc.a), side("B", doc.b)));
    root.append(el("section", { class: "card", id: "compare-difference" }, tableView(doc.difference, { signed: ["difference_t", "difference_share"] })));
    const figs = el("div", { class: "grid2", id: "compare-figures" });
    const panels = [el("div"), el("div")];
    root.append(el("section", { class: "card" }, el("h2", {}, "Shortfall figures"), el("div", { class: "grid2" }, panels), figs));
    const contents = await Promise.all([computeReport(a, panels[0]), computeReport(b, panels[1])]);
    for (const key of ["shortfall-region", "shortfall-sector"]) {
      contents.forEach((content, i) => {
        const f = content && content.sections.flatMap((s) => s.figures).find((x) => x.key === key);
        figs.append(f ? figureView(Object.assign({}, f, { caption: (i ? "B: " : "A: ") + f.caption })) : el("p", { class: "muted" }, "no figure"));
      });
    }
  }

  async function criticalityPage(root) {
    root.append(el("h1", {}, "Criticality"), el("p", { class: "lead" },
      "Supply risk against economic importance by the EU CRM method, the USGS supply-risk method or the engine's ensembles (over the built-in scenarios)."));
    const method = el("select", { id: "crit-method" }, ["eu", "usgs", "ensemble"].map((m) => el("option", { value: m }, m)));
    const persp = el("input", { type: "text", id: "crit-perspectives", placeholder: "e.g. EU, USA (default: the method's)" });
    const mats = el("input", { type: "text", id: "crit-materials", placeholder: "e.g. Dy, Tb (default: all)" });
    const draws = el("input", { type: "number", id: "crit-draws", min: "1", max: "20000", value: "200" });
    const go = el("button", { type: "button", class: "primary", id: "crit-go" }, "Assess");
    const panel = el("div", { id: "crit-job" });
    const out = el("div", { id: "crit-result" });
    root.append(el("div", { class: "controls" }, el("label", { class: "field" }, "method", method),
      el("label", { class: "field" }, "perspectives", persp), el("label", { class: "field" }, "materials", mats),
      el("label", { class: "field" }, "draws (ensemble)", draws), go), panel, out);
    const split = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);
    go.addEventListener("click", async () => {
      out.replaceChildren();
      go.disabled = true;
      try {
        const body = { method: method.value, draws: Number(draws.value) };
        if (split(persp.value).length) body.perspectives = split(persp.value);
        if (split(mats.value).length) body.materials = split(mats.value);
        const job = await api("/api/jobs/criticality", { method: "POST", body });
        const final = await watchJob(job, panel);
        if (final.state !== "done") return;
        const res = final.result;
        if (res.figure) out.append(el("section", { class: "card" }, figureView({ key: "criticality-matrix", caption: "The criticality matrix: red = critical.", figure: res.figure })));
        else out.append(el("p", { class: "muted" }, "The USGS method has no economic importance: no matrix, the table only."));
        out.append(el("section", { class: "card" }, tableView(res.summary), res.by_perspective ? tableView(res.by_perspective) : null,
          res.skipped.map((s) => el("p", { class: "muted" }, "skipped: " + s)), res.warnings.map((w) => el("p", { class: "warn" }, "warning: " + w))));
      } catch (e) {
        panel.replaceChildren(errorBox(e));
      } finally {
        go.disabled = false;
      }
    });
  }

  async function jobsPage(root) {
    root.append(el("h1", {}, "Jobs"), el("p", { class: "lead" }, "What this server has computed or is computing (kept while it runs)."));
    const holder = el("div", { id: "jobs-table" });
    root.append(holder);
    const gen = generation;
    for (;;) {
      const doc = await api("/api/jobs");
      const rows = doc.jobs.map((j) => ({ label: j.label, kind: j.kind, state: j.state, progress: j.progress, seconds: j.seconds, error: j.error || "", id: j.id }));
      holder.replaceChildren(tableView({ key: "jobs", caption: `${rows.length} job(s)`, columns: ["label", "kind", "state", "progress", "seconds", "error"], rows, total_rows: rows.length }));
      if (!doc.jobs.some((j) => j.state === "queued" || j.state === "running")) return;
      await sleep(1000);
      if (gen !== generation) return;
    }
  }

  async function apiPage(root) {
    root.append(el("h1", {}, "API"), el("p", { class: "lead" }, "The JSON API this page uses. Its OpenAPI description: ",
      link("/openapi.json", "/openapi.json"), ". Errors are {\"error\": \"<one line>\"} with their status; with a token, send Authorization: Bearer <token>."));
    const spec = await api("/openapi.json");
    const rows = [];
    for (const [path, ops] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const ref = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
        const schema = ref && ref.schema && ref.schema.$ref ? ref.schema.$ref.split("/").pop() : "";
        const fields = schema && spec.components.schemas[schema] ? Object.keys(spec.components.schemas[schema].properties || {}).join(", ") : "";
        const query = (op.parameters || []).map((p) => p.name + " (" + p.in + ")").join(", ");
        rows.push({ method: method.toUpperCase(), path, summary: op.summary || "", parameters: [query, fields].filter(Boolean).join("; ") });
      }
    }
    root.append(tableView({ key: "endpoints", caption: "Endpoints", columns: ["method", "path", "summary", "parameters"], rows, total_rows: rows.length }));
  }

  // -- routing -----------------------------------------------------------------------------------
  const ROUTES = {
    overview: overviewPage, scenarios: scenariosPage,
    runs: (root, parts) => (parts[1] ? runPage(root, parts) : runsPage(root)),
    compare: comparePage, criticality: criticalityPage, jobs: jobsPage, api: apiPage,
  };

  /* Each visit draws into a fresh element of its own: once the visitor has moved on, whatever the
     old page's requests bring back lands in a detached element and is never seen. */
  async function render() {
    generation += 1;
    const hash = window.location.hash.replace(/^#\/?/, "");
    const [path, query] = hash.split("?");
    const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    const page = ROUTES[parts[0]] ? parts[0] : "overview";
    for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.route === page);
    const root = el("div", { class: "page", "data-page": page });
    clearView();
    view.append(root);
    document.title = "critmin: " + page;
    try {
      await ROUTES[page](root, parts, new URLSearchParams(query || ""));
    } catch (e) {
      root.append(errorBox(e));
    }
  }

  takeTokenFromUrl();
  window.addEventListener("hashchange", render);
  api("/api/health").then((h) => {
    document.getElementById("version").textContent = "critmin " + h.version + " · base year " + h.base_year;
  }).catch(() => {}).finally(render);
})();
