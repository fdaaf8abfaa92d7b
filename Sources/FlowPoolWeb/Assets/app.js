// FlowPool live web view: overview, namespace and run pages.
// Plain ES2020, no dependencies. The server renders an HTML shell whose <body> carries
// data-page / data-ns / data-run; everything below draws into <main id="app">.
// All data goes into the DOM through textContent / attributes, never innerHTML.
"use strict";

(() => {
  const body = document.body;
  const PAGE = body.dataset.page || "overview";
  const NS = body.dataset.ns || "";
  const RUN = body.dataset.run || "";
  const app = document.getElementById("app") || body.appendChild(document.createElement("main"));

  const MAX_RUN_ROWS = 500;
  const MAX_FEED_ROWS = 200;
  const ALIVE_MS = 3000;

  // ---------------------------------------------------------------- helpers

  /** Creates an element; `props` sets attributes (class, data-*, …) or properties (on*, text). */
  function h(tag, props, ...children) {
    const e = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === "text") e.textContent = v;
        else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
        else if (k in e && !k.includes("-") && k !== "list") e[k] = v;
        else e.setAttribute(k, v === true ? "" : v);
      }
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  /** Sets text only when it changed (avoids needless layout work). */
  function setText(e, s) {
    s = s === null || s === undefined ? "" : String(s);
    if (e.textContent !== s) e.textContent = s;
  }

  /** Sets an attribute only when it changed (class/title writes can trigger style work); "" removes it. */
  function setAttr(e, name, v) {
    if (!v) { if (e.hasAttribute(name)) e.removeAttribute(name); } else if (e.getAttribute(name) !== v) e.setAttribute(name, v);
  }

  const enc = encodeURIComponent;
  const nsUrl = (ns) => "/ns/" + enc(ns);
  const runUrl = (ns, run) => "/runs/" + enc(ns) + "/" + enc(run);
  const pad = (n, w = 2) => String(n).padStart(w, "0");

  /** Local clock time with milliseconds: 14:03:07.123. */
  function clock(ts) {
    if (typeof ts !== "number") return "";
    const d = new Date(ts * 1000);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }

  /** Duration in seconds as "1.2 s", "3 min 4 s", "2 h 5 min". */
  function duration(sec) {
    if (typeof sec !== "number" || !isFinite(sec)) return "";
    if (sec < 0) sec = 0;
    if (sec < 60) return `${sec.toFixed(1)} s`;
    const s = Math.floor(sec);
    if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
    return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  }

  /** Milliseconds since a heartbeat as "40 ms ago" / "3.1 s ago". */
  function ago(ms) {
    if (typeof ms !== "number") return "";
    return ms < 1000 ? `${Math.round(ms)} ms ago` : `${duration(ms / 1000)} ago`;
  }

  const num = (v) => (typeof v === "number" ? String(v) : "–");
  const rate = (v) => (typeof v !== "number" ? "–" : v >= 100 ? v.toFixed(0) : v.toFixed(1));

  /** Result/answer value as text: a JSON string as is, anything else as pretty JSON. */
  const resultText = (v) => (typeof v === "string" ? v : JSON.stringify(v === undefined ? null : v, null, 2));

  /** Compact JSON for timeline content (content cut by the server is already a string). */
  function compact(v) {
    try { return JSON.stringify(v === undefined ? null : v); } catch (_) { return String(v); }
  }

  /** POSTs JSON; resolves to {ok, status, data}. Network errors resolve with ok=false. */
  async function postJSON(url, payload) {
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: payload === undefined ? "{}" : JSON.stringify(payload),
      });
      let data = null;
      try { data = await res.json(); } catch (_) { /* non-JSON body */ }
      return { ok: res.ok, status: res.status, data: data || {} };
    } catch (err) {
      return { ok: false, status: 0, data: { error: "network", message: String(err && err.message || err) } };
    }
  }

  const errorText = (r) => {
    const d = r.data || {};
    const msg = d.message || d.error || `HTTP ${r.status}`;
    return d.error && d.message ? `${d.message} (${d.error})` : msg;
  };

  /** Batches drawing into one animation frame (a timer while the tab is hidden, where frames stop). */
  function frameScheduler(draw) {
    let queued = false;
    const run = () => { queued = false; draw(); };
    return () => {
      if (queued) return;
      queued = true;
      if (document.hidden) setTimeout(run, 250); else requestAnimationFrame(run);
    };
  }

  const markLive = () => { if (body.dataset.live !== "1") body.dataset.live = "1"; };

  // ------------------------------------------------------- header & connection

  const header = document.querySelector("header");
  const conn = h("span", { id: "conn", class: "conn connecting", title: "live connection", text: "connecting…" });
  (header || app).append(conn);

  function setConn(state) {
    const labels = { live: "live", reconnecting: "reconnecting…", connecting: "connecting…" };
    conn.className = "conn " + state;
    setText(conn, labels[state] || state);
  }

  const jump = document.getElementById("ns-jump");
  if (jump) {
    jump.addEventListener("keydown", (ev) => {
      if (ev.key !== "Enter") return;
      ev.preventDefault();
      const v = jump.value.trim();
      if (v) location.href = nsUrl(v);
    });
  }

  /**
   * Opens an EventSource and dispatches named events to `handlers`. The browser reconnects by
   * itself after a transient error; when it gives up (readyState CLOSED) a new one is opened.
   */
  function stream(url, handlers) {
    let es = null;
    let retry = 1000;
    const open = () => {
      es = new EventSource(url);
      es.onopen = () => { retry = 1000; setConn("live"); };
      es.onerror = () => {
        setConn("reconnecting");
        if (es.readyState === EventSource.CLOSED) {
          es.close();
          setTimeout(open, retry);
          retry = Math.min(retry * 2, 15000);
        }
      };
      for (const [name, fn] of Object.entries(handlers)) {
        es.addEventListener(name, (ev) => {
          let data;
          try { data = JSON.parse(ev.data); } catch (err) { console.warn("bad", name, "message", err); return; }
          setConn("live");
          fn(data);
        });
      }
    };
    open();
    window.addEventListener("beforeunload", () => es && es.close());
  }

  /** Keeps the rows of a small keyed table in sync with a list (add, update in place, remove). */
  function syncRows(tbody, rows, items, key, attr, build, update) {
    const seen = new Set();
    let prev = null;
    for (const item of items) {
      const id = String(key(item));
      seen.add(id);
      let row = rows.get(id);
      if (!row) {
        row = build(item);
        row.tr.setAttribute(attr, id);
        rows.set(id, row);
      }
      update(row, item);
      // Keep server order without moving rows that are already in place.
      const want = prev ? prev.nextSibling : tbody.firstChild;
      if (want !== row.tr) tbody.insertBefore(row.tr, want);
      prev = row.tr;
    }
    for (const [id, row] of rows) {
      if (!seen.has(id)) { row.tr.remove(); rows.delete(id); }
    }
  }

  const stat = (id, label) =>
    h("div", { class: "stat" }, h("div", { class: "stat-value", id, text: "–" }), h("div", { class: "stat-label", text: label }));

  const table = (id, heads) =>
    h("table", { id, class: "grid" }, h("thead", null, h("tr", null, ...heads.map((t) => h("th", { text: t })))), h("tbody"));

  // ------------------------------------------------------------- overview page

  function overviewPage() {
    document.title = "FlowPool";
    const banner = h("div", { id: "coordinator", class: "banner" });
    const chartSvg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    chartSvg.id = "chart";
    chartSvg.setAttribute("viewBox", "0 0 600 120");
    chartSvg.setAttribute("preserveAspectRatio", "none");
    chartSvg.setAttribute("role", "img");
    chartSvg.setAttribute("aria-label", "runs per second and events per second");
    const legend = h("div", { class: "legend" });
    const workers = table("workers", ["worker", "host / pid", "alive", "in flight", "completed", "last heartbeat", "flows"]);
    const subs = table("subscribers", ["subscriber", "pattern", "host / pid", "received", "gaps", "repaired", "lost", "buffer drops", "last report"]);
    const waiting = h("ul", { id: "waiting", class: "chips" });
    const namespaces = h("ul", { id: "namespaces", class: "chips" });

    app.append(
      banner,
      h("section", { class: "stats" },
        stat("queue-depth", "queue depth"), stat("in-flight", "in flight"), stat("active-jobs", "active jobs"),
        stat("redispatches", "re-dispatches"), stat("completed", "completed"), stat("failed", "failed"),
        stat("cancelled", "cancelled"), stat("workers-lost", "workers lost")),
      h("section", { class: "card" }, h("h2", { text: "Throughput" }), legend, h("div", { class: "chart-box" }, chartSvg)),
      h("div", { class: "cols" },
        h("section", { class: "card" }, h("h2", { text: "Waiting by flow" }), waiting),
        h("section", { class: "card" }, h("h2", { text: "Namespaces" }), namespaces)),
      h("section", { class: "card" }, h("h2", { text: "Workers" }), h("div", { class: "scroll" }, workers)),
      h("section", { class: "card" }, h("h2", { text: "Subscribers" }), h("div", { class: "scroll" }, subs)),
    );

    const workerRows = new Map();
    const subRows = new Map();
    let latest = null;
    const schedule = frameScheduler(() => { if (latest) draw(latest); });

    function draw(o) {
      const c = o.counters || {};
      const statusBits = [o.connected ? "connected" : "not connected", o.coordinator || "", o.draining ? "draining" : ""];
      setText(banner, o.error ? String(o.error) : statusBits.filter(Boolean).join(" · "));
      banner.className = "banner " + (o.error || !o.connected ? "bad" : o.draining ? "warn" : "ok");

      setText(document.getElementById("queue-depth"), num(o.queue_depth));
      setText(document.getElementById("in-flight"), num(o.in_flight));
      setText(document.getElementById("active-jobs"), num(o.active_jobs));
      setText(document.getElementById("redispatches"), num(c.jobs_redispatched));
      setText(document.getElementById("completed"), num(c.jobs_completed));
      setText(document.getElementById("failed"), num(c.jobs_failed));
      setText(document.getElementById("cancelled"), num(c.jobs_cancelled));
      setText(document.getElementById("workers-lost"), num(c.workers_lost));

      drawChart(chartSvg, legend, o.series || []);

      syncRows(workers.tBodies[0], workerRows, o.workers || [], (w) => w.id, "data-worker",
        () => {
          const td = {};
          const tr = h("tr", null, ...["id", "host", "alive", "load", "completed", "seen", "flows"].map((k) => (td[k] = h("td", { class: k }))));
          td.bar = h("span", { class: "bar" }, h("span"));
          td.loadText = h("span");
          td.load.append(td.loadText, td.bar);
          return { tr, td };
        },
        ({ tr, td }, w) => {
          const alive = typeof w.last_seen_ms === "number" && w.last_seen_ms < ALIVE_MS;
          tr.classList.toggle("dead", !alive);
          tr.classList.toggle("draining", !!w.draining);
          setText(td.id, w.id);
          setText(td.host, `${w.host || "?"} / ${w.pid ?? "?"}`);
          setText(td.alive, alive ? (w.draining ? "draining" : "yes") : "no");
          setText(td.loadText, `${num(w.in_flight)} / ${num(w.concurrency)}`);
          const frac = w.concurrency > 0 ? Math.min(1, (w.in_flight || 0) / w.concurrency) : 0;
          td.bar.firstChild.style.width = (frac * 100).toFixed(1) + "%";
          setText(td.completed, num(w.completed));
          setText(td.seen, ago(w.last_seen_ms));
          setText(td.flows, Array.isArray(w.flows) ? w.flows.join(", ") : "any");
        });

      syncRows(subs.tBodies[0], subRows, o.subscribers || [], (s) => s.subscriber, "data-subscriber",
        () => {
          const td = {};
          const keys = ["subscriber", "pattern", "host", "received", "gaps", "repaired", "lost", "buffer_drops", "report"];
          const tr = h("tr", null, ...keys.map((k) => (td[k] = h("td", { class: k }))));
          return { tr, td };
        },
        ({ td }, s) => {
          setText(td.subscriber, s.subscriber);
          setText(td.pattern, s.pattern);
          setText(td.host, `${s.host || "?"} / ${s.pid ?? "?"}`);
          for (const k of ["received", "gaps", "repaired", "lost", "buffer_drops"]) {
            setText(td[k], num(s[k]));
            if (k !== "received" && k !== "repaired") td[k].classList.toggle("bad", s[k] > 0);
          }
          setText(td.report, ago(s.last_report_ms));
        });

      // Waiting by flow: queued counts, plus flows that have no worker at all.
      const queued = o.queued_by_flow || {};
      const noWorker = new Set(o.flows_without_worker || []);
      const flows = [...new Set([...Object.keys(queued), ...noWorker])].sort();
      waiting.replaceChildren(...(flows.length ? flows.map((f) =>
        h("li", { class: noWorker.has(f) ? "chip flagged" : "chip", "data-flow": f, title: noWorker.has(f) ? "no live worker offers this flow" : null },
          h("span", { class: "mono", text: f }), " ", h("b", { text: String(queued[f] || 0) }),
          noWorker.has(f) ? h("span", { class: "flag", text: "no worker" }) : null))
        : [h("li", { class: "empty", text: "nothing waiting" })]));

      const nsList = o.namespaces || [];
      if (namespaces.dataset.key !== nsList.join("\n")) {
        namespaces.dataset.key = nsList.join("\n");
        namespaces.replaceChildren(...(nsList.length
          ? nsList.map((n) => h("li", null, h("a", { href: nsUrl(n), class: "mono", text: n })))
          : [h("li", { class: "empty", text: "none seen yet" })]));
      }
      markLive();
    }

    stream("/api/overview/stream", { overview: (o) => { latest = o; schedule(); } });
  }

  /** Draws runs/s and events/s as two polylines, each scaled to its own maximum. */
  function drawChart(svg, legend, series) {
    const W = 600, H = 120;
    const NS_SVG = "http://www.w3.org/2000/svg";
    const last = series[series.length - 1] || {};
    const maxOf = (k) => Math.max(1, ...series.map((p) => p[k] || 0));
    const lines = [["runs_per_s", "runs/s", "c-runs"], ["events_per_s", "events/s", "c-events"]];
    legend.replaceChildren(...lines.map(([k, label, cls]) =>
      h("span", { class: "key " + cls }, h("i"), `${label} ${rate(last[k])} `,
        series.length ? h("small", { text: `(max ${rate(maxOf(k))})` }) : null)));
    svg.replaceChildren();
    for (const y of [0.25, 0.5, 0.75]) {
      const g = document.createElementNS(NS_SVG, "line");
      g.setAttribute("x1", 0); g.setAttribute("x2", W);
      g.setAttribute("y1", H * y); g.setAttribute("y2", H * y);
      g.setAttribute("class", "grid-line");
      svg.append(g);
    }
    if (series.length < 2) return;
    const t0 = series[0].t, span = Math.max(1e-9, series[series.length - 1].t - t0);
    legend.append(h("span", { class: "muted", text: `last ${duration(span)}, each line scaled to its max` }));
    for (const [k, , cls] of lines) {
      const max = maxOf(k) * 1.1;
      const pts = series.map((p) => `${(((p.t - t0) / span) * W).toFixed(1)},${(H - ((p[k] || 0) / max) * H).toFixed(1)}`);
      const pl = document.createElementNS(NS_SVG, "polyline");
      pl.setAttribute("points", pts.join(" "));
      pl.setAttribute("class", "line " + cls);
      pl.setAttribute("vector-effect", "non-scaling-stroke");
      svg.append(pl);
    }
  }

  // ------------------------------------------------------------ namespace page

  function namespacePage() {
    document.title = `${NS} · FlowPool`;
    const filter = h("input", { id: "filter", type: "search", placeholder: "filter: run, state, node, text", autocomplete: "off" });
    const count = h("span", { class: "muted", id: "run-count" });
    const runs = table("runs", ["run", "state", "elapsed", "node", "last event", "answer", ""]);
    const feed = h("div", { id: "feed", class: "feed" });
    const skipped = h("div", { id: "skipped", class: "note", hidden: true });
    const notice = h("div", { id: "notice", class: "note", hidden: true });
    // Shown while the namespace is too busy to follow event by event (the server then polls its newest runs).
    const sampling = h("div", { id: "sampling", class: "note", hidden: true });

    // Submit form.
    const flowList = h("datalist", { id: "submit-flows" });
    const flowInput = h("input", { id: "submit-flow", name: "flow", list: "submit-flows", autocomplete: "off", placeholder: "flow" });
    flowInput.setAttribute("list", "submit-flows");
    const jsonInput = h("textarea", { id: "submit-input", name: "input", rows: 4 });
    jsonInput.spellcheck = false;
    jsonInput.value = '{"question":"How do I reset my password?"}';
    const runInput = h("input", { id: "submit-run", name: "run", placeholder: "run id (optional)", autocomplete: "off" });
    const submitBtn = h("button", { id: "submit-button", type: "submit", text: "Submit" });
    const submitStatus = h("div", { id: "submit-status", role: "status" });
    const form = h("form", { id: "submit-form", class: "submit" },
      h("label", null, "flow", flowInput), flowList,
      h("label", { class: "wide" }, "input (JSON)", jsonInput),
      h("label", null, "run", runInput),
      h("div", { class: "actions" }, submitBtn, submitStatus));

    app.append(
      h("div", { class: "title" }, h("h1", null, "namespace ", h("span", { class: "mono", text: NS })), count),
      h("div", { class: "ns-layout" },
        h("section", { class: "card runs-card" },
          h("div", { class: "toolbar" }, h("h2", { text: "Runs" }), filter), notice, sampling,
          h("div", { class: "scroll" }, runs)),
        h("div", { class: "side" },
          h("section", { class: "card" }, h("h2", { text: "Submit a run" }), form),
          h("section", { class: "card" }, h("h2", { text: "Live feed" }), skipped, feed))));

    const tbody = runs.tBodies[0];
    const rows = new Map();        // run id → row record
    const running = new Set();     // row records of running runs (elapsed ticks locally)
    const shown = new Set();       // running rows currently on screen: only these tick
    const io = new IntersectionObserver((entries) => {
      for (const en of entries) {
        const row = rows.get(en.target.dataset.run);
        if (!row || row.tr !== en.target) continue;
        if (en.isIntersecting) { shown.add(row); setText(row.td.elapsed, elapsedOf(row.run)); } else shown.delete(row);
      }
    }, { rootMargin: "100px" });
    let flows = [];
    let skippedTotal = 0;
    let needle = "";
    let clockSkew = 0;             // seconds the server clock is ahead of ours (only corrected that way)

    // Messages accumulate here and are drawn once per frame.
    let pending = { snapshot: null, runs: new Map(), removed: new Set(), feed: [], skipped: 0, flows: null, sampling: undefined };
    const schedule = frameScheduler(draw);

    function showNotice(text, bad) {
      notice.hidden = !text;
      notice.className = "note" + (bad ? " bad" : "");
      setText(notice, text);
    }

    function learnClock(ts) {
      if (typeof ts === "number") clockSkew = Math.max(clockSkew, ts - Date.now() / 1000);
    }

    function onSnapshot(s) {
      pending = { snapshot: s, runs: new Map(), removed: new Set(), feed: (s.feed || []).slice(-MAX_FEED_ROWS), skipped: 0, flows: s.flows || [], sampling: s.sampling || null };
      schedule();
    }

    function onUpdate(u) {
      for (const r of u.runs || []) { pending.runs.set(r.run, r); pending.removed.delete(r.run); }
      for (const id of u.removed || []) { pending.runs.delete(id); pending.removed.add(id); }
      if (u.sampling !== undefined) pending.sampling = u.sampling;
      if (u.feed && u.feed.length) {
        pending.feed.push(...u.feed);
        if (pending.feed.length > 2 * MAX_FEED_ROWS) pending.feed = pending.feed.slice(-MAX_FEED_ROWS);
      }
      pending.skipped += u.skipped || 0;
      if (u.flows) pending.flows = u.flows;
      schedule();
    }

    function buildRow(r) {
      const td = {};
      const tr = h("tr", null, ...["run", "state", "elapsed", "node", "last", "answer", "actions"].map((k) => (td[k] = h("td", { class: k }))));
      td.run.append(h("a", { href: runUrl(NS, r.run), class: "mono", text: r.run }));
      td.answerText = td.answer.appendChild(h("div", { class: "clamp" })); // td.answer's text is exactly this
      tr.dataset.run = r.run;
      return { tr, td, run: r, cancel: null, hay: "" };
    }

    /** Writes a RUN into its row, touching only what changed. */
    function fillRow(row, r) {
      const { tr, td } = row;
      row.run = r;
      const state = r.state || "unknown";
      if (tr.dataset.state !== state) tr.dataset.state = state;
      setText(td.state, state);
      setAttr(td.state, "class", "state s-" + state);
      setText(td.node, r.node);
      setText(td.last, r.last);
      if (r.last_type) setAttr(td.last, "data-type", r.last_type); else td.last.removeAttribute("data-type");
      setAttr(td.last, "title", r.last_type ? `${r.last_type}: ${r.last || ""}` : (r.last || ""));

      // Answer cell holds exactly the answer; streaming text / error are marked by class only.
      let text, kind;
      if (r.answer !== null && r.answer !== undefined) { text = r.answer; kind = "final"; }
      else if (r.error && state !== "running") { text = [r.error.code, r.error.message].filter(Boolean).join(": "); kind = "error"; }
      else { text = r.text || ""; kind = state === "running" ? "streaming" : "final"; }
      setText(td.answerText, text);
      const cut = kind === "streaming" && !!r.text_cut;
      setAttr(td.answer, "class", "answer " + kind + (cut ? " cut" : ""));
      setAttr(td.answer, "title", cut ? "streaming text (cut by the server)" : "");

      if (state === "running") {
        if (!running.has(row)) { running.add(row); io.observe(tr); }
        if (!row.cancel) {
          row.cancel = h("button", { class: "cancel", type: "button", text: "Cancel", title: "cancel this run" });
          row.cancel.addEventListener("click", () => cancelRun(row));
          td.actions.append(row.cancel);
        }
      } else {
        if (running.delete(row)) { io.unobserve(tr); shown.delete(row); }
        if (row.cancel) { row.cancel.remove(); row.cancel = null; }
      }
      setText(td.elapsed, elapsedOf(r));
      row.hay = [r.run, state, r.node, r.last].filter(Boolean).join("\n").toLowerCase();
      applyFilter(row);
    }

    function elapsedOf(r) {
      if (typeof r.started !== "number") return "";
      let sec = (r.updated || r.started) - r.started;
      if (r.state === "running") sec = Math.max(sec, Date.now() / 1000 + clockSkew - r.started);
      return duration(sec);
    }

    function applyFilter(row) {
      const hide = needle !== "" && !row.hay.includes(needle);
      if (row.tr.hidden !== hide) row.tr.hidden = hide;
    }

    /** Keeps at most MAX_RUN_ROWS rows: drops the oldest finished runs first, then the oldest. */
    function trimRows() {
      let excess = rows.size - MAX_RUN_ROWS;
      for (let tr = tbody.lastElementChild; excess > 0 && tr;) {
        const prev = tr.previousElementSibling;
        if (tr.dataset.state !== "running") { dropRow(tr.dataset.run); excess--; }
        tr = prev;
      }
      while (excess > 0 && tbody.lastElementChild) { dropRow(tbody.lastElementChild.dataset.run); excess--; }
    }

    function dropRow(id) {
      const row = rows.get(id);
      if (!row) return;
      row.tr.remove();
      if (running.delete(row)) { io.unobserve(row.tr); shown.delete(row); }
      rows.delete(id);
    }

    function feedRow(e) {
      const row = h("div", { class: "ev" },
        h("span", { class: "ts", text: clock(e.ts) }),
        h("span", { class: "run" }, h("a", { class: "mono", href: runUrl(NS, e.run), text: e.run }),
          e.attempt > 1 ? h("span", { class: "att", title: "attempt", text: `#${e.attempt}` }) : null),
        h("span", { class: "seq", text: num(e.seq) }),
        h("span", { class: "type", text: e.type }),
        h("span", { class: "node", text: e.node || "" }),
        h("span", { class: "sum", text: e.summary || "" }));
      row.dataset.run = e.run;
      row.dataset.attempt = String(e.attempt);
      row.dataset.seq = String(e.seq);
      row.dataset.type = e.type;
      return row;
    }

    function draw() {
      const p = pending;
      pending = { snapshot: null, runs: new Map(), removed: new Set(), feed: [], skipped: 0, flows: null, sampling: undefined };

      if (p.snapshot) {
        // A snapshot replaces everything (also after a reconnect).
        rows.clear();
        running.clear();
        shown.clear();
        io.disconnect();
        skippedTotal = 0;
        feed.replaceChildren();
        const frag = document.createDocumentFragment();
        for (const r of (p.snapshot.runs || [])) {
          if (rows.has(r.run)) continue;
          learnClock(r.updated);
          const row = buildRow(r);
          rows.set(r.run, row);
          fillRow(row, r);
          frag.append(row.tr);
        }
        tbody.replaceChildren(frag);
      }

      // Runs the server no longer shows (a busy namespace shows only its newest runs).
      for (const id of p.removed) dropRow(id);
      if (p.sampling !== undefined) {
        sampling.hidden = !p.sampling;
        setText(sampling, p.sampling || "");
      }

      // Changed runs: update in place; new ones go on top, newest first.
      const fresh = [];
      for (const r of p.runs.values()) {
        learnClock(r.updated);
        const row = rows.get(r.run);
        if (row) fillRow(row, r); else fresh.push(r);
      }
      if (fresh.length) {
        fresh.sort((a, b) => (b.started || 0) - (a.started || 0));
        const frag = document.createDocumentFragment();
        for (const r of fresh) {
          const row = buildRow(r);
          rows.set(r.run, row);
          fillRow(row, r);
          frag.append(row.tr);
        }
        tbody.prepend(frag);
      }
      if (rows.size > MAX_RUN_ROWS) trimRows();

      // Feed: newest on top, at most MAX_FEED_ROWS elements.
      if (p.feed.length) {
        const events = p.feed.slice(-MAX_FEED_ROWS);
        const frag = document.createDocumentFragment();
        for (let i = events.length - 1; i >= 0; i--) frag.append(feedRow(events[i]));
        feed.prepend(frag);
        while (feed.childElementCount > MAX_FEED_ROWS) feed.lastElementChild.remove();
        learnClock(events[events.length - 1].ts);
      }

      skippedTotal += p.skipped;
      skipped.hidden = skippedTotal === 0;
      setText(skipped, skippedTotal ? `${skippedTotal} events skipped (sampled)` : "");

      if (p.flows) setFlows(p.flows);
      setText(count, `${rows.size} runs · ${running.size} running`);
      if (p.snapshot) markLive();
    }

    function setFlows(list) {
      flows = list;
      flowList.replaceChildren(...list.map((f) => h("option", { value: f })));
      // An empty flow field submits the first flow; the placeholder says which one.
      flowInput.placeholder = list.length ? list[0] : "flow";
      flowInput.title = list.length ? `empty: ${list[0]}` : "";
    }

    // Elapsed of running runs ticks locally (visible rows only; others update when scrolled in).
    setInterval(() => {
      if (document.hidden) return;
      for (const row of shown) setText(row.td.elapsed, elapsedOf(row.run));
    }, 200);

    filter.addEventListener("input", () => {
      needle = filter.value.trim().toLowerCase();
      for (const row of rows.values()) applyFilter(row);
    });

    async function cancelRun(row) {
      const btn = row.cancel;
      if (btn) { btn.disabled = true; btn.textContent = "Cancelling…"; }
      const res = await postJSON(`/api/runs/${enc(NS)}/${enc(row.run.run)}/cancel`);
      if (res.ok) {
        showNotice(`Cancel sent for ${row.run.run} (was ${res.data.was || "?"}).`, false);
      } else {
        showNotice(`Cancel of ${row.run.run} failed: ${errorText(res)}`, true);
        if (btn) { btn.disabled = false; btn.textContent = "Cancel"; }
      }
    }

    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const status = (text, cls, link) => {
        submitStatus.className = cls;
        submitStatus.replaceChildren(text, ...(link ? [link] : []));
      };
      let input;
      try {
        input = JSON.parse(jsonInput.value);
      } catch (err) {
        status(`Invalid JSON input: ${err.message}`, "bad");
        jsonInput.classList.add("invalid");
        jsonInput.focus();
        return;
      }
      jsonInput.classList.remove("invalid");
      const flow = flowInput.value.trim() || flows[0] || "";
      if (!flow) { status("Choose a flow.", "bad"); flowInput.focus(); return; }
      const payload = { flow, ns: NS, input };
      const run = runInput.value.trim();
      if (run) payload.run = run;
      submitBtn.disabled = true;
      status("Submitting…", "muted");
      const res = await postJSON("/api/runs", payload);
      submitBtn.disabled = false;
      if (res.ok) {
        const d = res.data;
        const id = d.run || run;
        const link = h("a", { href: runUrl(d.ns || NS, id), class: "mono", text: id });
        status(d.existing ? "Run already exists: " : "Submitted run ", "ok", link);
      } else {
        status(`Submit failed: ${errorText(res)}`, "bad");
      }
    });
    jsonInput.addEventListener("input", () => jsonInput.classList.remove("invalid"));

    stream(`/api/ns/${enc(NS)}/stream`, { snapshot: onSnapshot, update: onUpdate });
  }

  // ------------------------------------------------------------------ run page

  function runPage() {
    document.title = `${RUN} · ${NS} · FlowPool`;
    const stateEl = h("span", { id: "state", class: "state s-unknown", text: "…" });
    const attemptsEl = h("span", { id: "attempts", class: "muted" });
    const cancelSlot = h("span");
    const cancelStatus = h("span", { id: "cancel-status", class: "muted" });
    const copyBtn = h("button", { id: "copy-link", type: "button", text: "Copy link", title: location.href });
    const cutNote = h("div", { id: "events-cut", class: "note", hidden: true });
    const timeline = table("timeline", ["seq", "attempt", "type", "node", "time", "content"]);
    const textEl = h("pre", { id: "text", class: "text" });
    const resultEl = h("pre", { id: "result", class: "result" });
    const errorEl = h("div", { id: "error", class: "error-box", hidden: true });
    const resultMeta = h("span", { class: "muted" });

    app.append(
      h("div", { class: "title" },
        h("h1", null, h("a", { href: nsUrl(NS), class: "mono", text: NS }), " / ", h("span", { class: "mono", text: RUN })),
        stateEl, attemptsEl, cancelSlot, cancelStatus, h("span", { class: "spacer" }), copyBtn),
      h("div", { class: "run-layout" },
        h("section", { class: "card" }, h("h2", { text: "Text" }), textEl),
        h("section", { class: "card" }, h("h2", null, "Result ", resultMeta), errorEl, resultEl)),
      h("section", { class: "card" }, h("h2", { text: "Timeline" }), cutNote, h("div", { class: "scroll" }, timeline)));

    const tbody = timeline.tBodies[0];
    let seen = new Set();          // "attempt:seq" of rows already drawn
    let maxAttempt = 0;
    let state = "unknown";
    let cancelBtn = null;
    let pending = { snapshot: null, events: [], state: null, text: null, attempts: null, result: undefined };
    const schedule = frameScheduler(draw);

    const onSnapshot = (s) => {
      pending = { snapshot: s, events: s.events || [], state: s.state, text: s.text ?? "", attempts: s.attempts || [], result: s.result ?? null };
      schedule();
    };
    const onUpdate = (u) => {
      if (u.events) pending.events.push(...u.events);
      if (u.state) pending.state = u.state;
      if (typeof u.text === "string") pending.text = u.text;
      if (u.attempts) pending.attempts = u.attempts;
      schedule();
    };
    const onResult = (r) => { pending.result = r; schedule(); };

    function eventRow(e) {
      const tr = h("tr", null,
        h("td", { class: "seq", text: num(e.seq) }),
        h("td", { class: "attempt", text: String(e.attempt) }),
        h("td", { class: "type", text: e.type }),
        h("td", { class: "node", text: e.node || "" }),
        h("td", { class: "ts", text: clock(e.ts) }),
        h("td", { class: "content" }, h("div", { class: "clamp", text: compact(e.content) })));
      tr.dataset.attempt = String(e.attempt);
      tr.dataset.seq = String(e.seq);
      tr.dataset.type = e.type;
      if (e.attempt < maxAttempt) supersede(tr, true);
      return tr;
    }

    /** Marks a row of a superseded attempt: class "superseded" plus a "re-dispatched" label. */
    function supersede(tr, on) {
      tr.classList.toggle("superseded", on);
      const cell = tr.cells[1];
      if (on) cell.append(" ", h("span", { class: "redispatched", text: "re-dispatched" }));
      else setText(cell, tr.dataset.attempt);
    }

    /** Marks rows of attempts older than the newest one as re-dispatched. */
    function markSuperseded() {
      for (const tr of tbody.rows) {
        const old = Number(tr.dataset.attempt) < maxAttempt;
        if (tr.classList.contains("superseded") !== old) supersede(tr, old);
      }
    }

    function setState(s) {
      state = s || "unknown";
      setText(stateEl, state);
      stateEl.className = "state s-" + state;
      if (state === "running" && !cancelBtn) {
        cancelBtn = h("button", { id: "cancel-button", class: "cancel", type: "button", text: "Cancel run" });
        cancelBtn.addEventListener("click", cancel);
        cancelSlot.append(cancelBtn);
      } else if (state !== "running" && cancelBtn) {
        cancelBtn.remove();
        cancelBtn = null;
      }
    }

    function showResult(r) {
      if (!r) {
        resultEl.textContent = "";
        delete resultEl.dataset.status;
        errorEl.hidden = true;
        setText(resultMeta, "");
        return;
      }
      resultEl.dataset.status = r.status || "unknown";
      resultEl.className = "result s-" + (r.status || "unknown");
      setText(resultEl, resultText(r.result));
      setText(resultMeta, `${r.status || ""}${r.attempts ? ` · ${r.attempts} attempt${r.attempts === 1 ? "" : "s"}` : ""}`);
      errorEl.hidden = !r.error;
      setText(errorEl, r.error ? [r.error.code, r.error.message].filter(Boolean).join(": ") : "");
      if (r.status) setState(r.status);
    }

    function draw() {
      const p = pending;
      pending = { snapshot: null, events: [], state: null, text: null, attempts: null, result: undefined };
      if (p.snapshot) {
        tbody.replaceChildren();
        seen = new Set();
        maxAttempt = 0;
        const cut = p.snapshot.events_cut || 0;
        cutNote.hidden = cut <= 0;
        setText(cutNote, cut > 0 ? `The oldest ${cut} events are not shown.` : "");
      }
      if (p.attempts && p.attempts.length) maxAttempt = Math.max(maxAttempt, ...p.attempts);
      for (const e of p.events) maxAttempt = Math.max(maxAttempt, e.attempt || 0);
      if (p.attempts || p.events.length) markSuperseded();

      if (p.events.length) {
        const frag = document.createDocumentFragment();
        for (const e of p.events) {
          const k = `${e.attempt}:${e.seq}`;
          if (seen.has(k)) continue;
          seen.add(k);
          frag.append(eventRow(e));
        }
        tbody.append(frag);
      }
      const atts = p.attempts || null;
      if (atts) setText(attemptsEl, atts.length > 1 ? `attempts ${atts.join(", ")}` : atts.length ? `attempt ${atts[0]}` : "");
      if (p.text !== null) setText(textEl, p.text);
      if (p.state) setState(p.state);
      if (p.result !== undefined) showResult(p.result);
      if (p.snapshot) markLive();
    }

    async function cancel() {
      cancelBtn.disabled = true;
      setText(cancelStatus, "cancelling…");
      const res = await postJSON(`/api/runs/${enc(NS)}/${enc(RUN)}/cancel`);
      if (res.ok) setText(cancelStatus, `cancel sent (was ${res.data.was || "?"})`);
      else {
        setText(cancelStatus, `cancel failed: ${errorText(res)}`);
        if (cancelBtn) cancelBtn.disabled = false;
      }
    }

    copyBtn.addEventListener("click", async () => {
      const url = location.href;
      let ok = false;
      try { await navigator.clipboard.writeText(url); ok = true; } catch (_) {
        // Clipboard API needs a secure context; fall back to a hidden text field.
        const ta = h("textarea", { class: "offscreen" });
        ta.value = url;
        body.append(ta);
        ta.select();
        try { ok = document.execCommand("copy"); } catch (_) { ok = false; }
        ta.remove();
      }
      copyBtn.textContent = ok ? "Copied" : "Copy failed";
      setTimeout(() => { copyBtn.textContent = "Copy link"; }, 1500);
    });

    stream(`/api/runs/${enc(NS)}/${enc(RUN)}/stream`, { snapshot: onSnapshot, update: onUpdate, result: onResult });
  }

  // ------------------------------------------------------------------ dispatch

  if (PAGE === "namespace" && NS) namespacePage();
  else if (PAGE === "run" && NS && RUN) runPage();
  else if (PAGE === "overview") overviewPage();
  else app.append(h("p", { class: "note bad", text: `Unknown page "${PAGE}".` }));
})();
