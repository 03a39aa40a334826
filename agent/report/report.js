"use strict";
// Renders a neuron-refinery report page from the JSON block embedded in it.
// All text from the run (corpus, probes, LLM output) goes into the DOM as text nodes or through
// setAttribute; nothing is ever parsed as HTML, so no data can become markup or script.
(() => {
  const SVG = "http://www.w3.org/2000/svg";
  let current = JSON.parse(document.getElementById("report-data").textContent);
  const app = document.getElementById("app");

  function add(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function setProps(node, props) {
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "style") Object.assign(node.style, value); // CSSOM: allowed by the page's CSP
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    return node;
  }

  const h = (tag, props, ...children) => add(setProps(document.createElement(tag), props), children);
  const fill = (node, ...children) => { node.replaceChildren(); return add(node, children); };
  const s = (tag, props, ...children) => add(setProps(document.createElementNS(SVG, tag), props), children);

  // --- formatting ---------------------------------------------------------------------------
  const fixed = (v, digits) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));
  const r3 = (v) => fixed(v, 3);
  const signed = (v) => (v === null || v === undefined ? "–" : (v >= 0 ? "+" : "") + v.toFixed(3));
  const ci = (c) => (c ? `[${c[0].toFixed(3)}, ${c[1].toFixed(3)}]` : "–");
  const usd = (v) => "$" + Number(v || 0).toFixed(4);
  const count = (v) => Number(v || 0).toLocaleString("en-US");
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const shown = (token) => token.replace(/\n/g, "↵").replace(/\t/g, "⇥");
  const neuronHref = (row) => `neurons/${row.layer}-${row.neuron}.html`;

  function badge(status, now) {
    return h("span", { class: `badge ${status}`, title: now ? `at ${now}` : null }, status);
  }

  function lazyDetails(label, build, props) {
    // Builds its content on first opening: runs have hundreds of probes and LLM calls.
    const details = h("details", props || {}, h("summary", {}, label));
    details.addEventListener("toggle", () => {
      if (details.open && details.childElementCount === 1) add(details, [build()]);
    });
    return details;
  }

  // --- live updates (refinery view) ------------------------------------------------------------
  const liveLine = h("p", { class: "live", id: "live" });

  function startLive() {
    const live = current.live;
    if (!live) return;
    liveLine.textContent = `live: checks for new data every ${live.interval_ms / 1000} s`;
    const timer = setInterval(async () => {
      try {
        const response = await fetch(live.data_url, { cache: "no-store" });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const next = await response.json();
        liveLine.className = "live";
        liveLine.textContent = `live: last checked ${new Date().toLocaleTimeString()}`;
        if (next.version !== current.version) {
          current = next;
          render(false);
        }
        if (current.page === "neuron" && current.story.row.status !== "running") clearInterval(timer);
      } catch (err) {
        liveLine.className = "live offline";
        liveLine.textContent = `live: cannot reach refinery view (${err.message}); the page shows the last data it got`;
      }
    }, live.interval_ms);
  }

  // --- heatmaps ---------------------------------------------------------------------------------
  function tokenSpan(text, fraction, title, offending) {
    const alpha = Math.max(0, Math.min(1, fraction || 0));
    return h("span", {
      class: offending ? "tok off" : "tok", title,
      style: { backgroundColor: `rgba(46, 160, 67, ${alpha.toFixed(3)})` },
    }, shown(text));
  }

  // Two lines per text, as in OpenAI's neuron viewer: real activations (scaled to the largest
  // shown) and the simulation (0-10); offending tokens of counterexamples are outlined.
  function heatmap(row, maxReal, head) {
    const off = new Set(row.offending || []);
    const sim = row.simulated;
    const title = (i) => `${JSON.stringify(row.tokens[i])}\nreal ${row.real[i]}` + (sim ? `\nsimulated ${sim[i]} / 10` : "");
    const realLine = h("div", { class: "hm-line real" }, h("span", { class: "hm-label" }, "real"),
      row.tokens.map((t, i) => tokenSpan(t, row.real[i] / maxReal, title(i), off.has(i))));
    const simLine = sim
      ? h("div", { class: "hm-line sim" }, h("span", { class: "hm-label" }, "sim"),
        row.tokens.map((t, i) => tokenSpan(t, sim[i] / 10, title(i), off.has(i))))
      : h("div", { class: "hm-line sim error" }, h("span", { class: "hm-label" }, "sim"), `simulation failed: ${row.error || "no values"}`);
    const facts = [head, row.score !== null && row.score !== undefined ? `r ${r3(row.score)}` : null, row.label].filter(Boolean);
    return h("div", { class: "heatmap" }, facts.length ? h("div", { class: "hm-head" }, facts.join(" · ")) : null, realLine, simLine);
  }

  function legend(maxReal) {
    return h("p", { class: "legend" }, "colour: real activation / ", fixed(maxReal, 4),
      " (the largest shown) and simulated value / 10 ",
      [0, 0.25, 0.5, 0.75, 1].map((f) => tokenSpan(" ", f, `${f * 100}%`, false)),
      " · outlined: tokens where a counterexample's prediction and reality disagree most");
  }

  // --- the run page -----------------------------------------------------------------------------
  const COLUMNS = [
    { key: "layer", label: "layer", num: true, value: (r) => r.layer, cell: (r) => r.layer },
    { key: "neuron", label: "neuron", num: true, value: (r) => r.neuron,
      cell: (r) => (r.status === "unreadable" ? `${r.layer}/${r.neuron}` : h("a", { href: neuronHref(r), class: "neuron-link" }, `${r.layer}/${r.neuron}`)) },
    { key: "status", label: "status", value: (r) => r.status, cell: (r) => [badge(r.status, r.now), r.now ? h("div", { class: "muted" }, r.now) : null] },
    { key: "baseline", label: "builtin r", num: true, value: (r) => r.baseline, cell: (r) => r3(r.baseline) },
    { key: "oneshot", label: "one-shot r", num: true, value: (r) => r.oneshot, cell: (r) => r3(r.oneshot) },
    { key: "refined", label: "refined r", num: true, value: (r) => r.refined,
      cell: (r) => (r.refined === null && r.best_selection !== null ? h("span", { title: "best selection r so far" }, `(${r3(r.best_selection)})`) : r3(r.refined)) },
    { key: "gain", label: "gain", num: true, value: (r) => r.gain,
      cell: (r) => [signed(r.gain), failedNote(r) ? h("div", { class: "muted" }, failedNote(r)) : null] },
    { key: "ci", label: "95% CI", num: true, value: (r) => (r.ci ? r.ci[0] : null), cell: (r) => ci(r.ci) },
    { key: "iterations", label: "iterations", num: true, value: (r) => r.iterations, cell: (r) => r.iterations },
    { key: "probes", label: "probes", num: true, value: (r) => r.probes, cell: (r) => count(r.probes) },
    { key: "spend", label: "spend", num: true, value: (r) => r.cost_usd * 1e9 + r.tokens,
      cell: (r) => [usd(r.cost_usd), h("div", { class: "muted" }, `${count(r.tokens)} tokens`)] },
    { key: "explanation", label: "explanation", value: (r) => r.explanation,
      cell: (r) => [r.explanation || r.error || "", r.problems.length ? h("div", { class: "error" }, r.problems.join("; ")) : null] },
  ];
  const table = { key: "neuron", dir: 1, text: "", status: "all" };

  // Held-out records a simulation failed: the gain is over the records both simulations read.
  function failedNote(r) {
    if (!r.oneshot_failed && !r.refined_failed) return null;
    return `on ${r.paired_records} of ${r.heldout_records} records (failed: one-shot ${r.oneshot_failed || 0}, refined ${r.refined_failed || 0})`;
  }

  function compare(column) {
    return (a, b) => {
      const va = column.value(a), vb = column.value(b);
      if (va === null || va === undefined) return vb === null || vb === undefined ? 0 : 1; // missing values last
      if (vb === null || vb === undefined) return -1;
      const order = typeof va === "number" ? va - vb : String(va).localeCompare(String(vb));
      return table.dir * order || a.layer - b.layer || a.neuron - b.neuron;
    };
  }

  function visibleRows(rows) {
    const needle = table.text.trim().toLowerCase();
    const column = COLUMNS.find((c) => c.key === table.key);
    return rows
      .filter((r) => table.status === "all" || r.status === table.status)
      .filter((r) => !needle || [`${r.layer}/${r.neuron}`, r.status, r.explanation, r.error, r.stop, r.now, ...r.problems]
        .some((v) => v && String(v).toLowerCase().includes(needle)))
      .sort(compare(column));
  }

  function indexSkeleton() {
    const filter = h("input", { type: "search", id: "filter", placeholder: "filter: neuron, status, explanation…",
      "aria-label": "filter neurons", oninput: (e) => { table.text = e.target.value; fillTable(); } });
    const status = h("select", { id: "status-filter", "aria-label": "status",
      onchange: (e) => { table.status = e.target.value; fillTable(); } },
    ["all", "ok", "degraded", "failed", "skipped", "running", "unreadable"].map((v) => h("option", { value: v }, v === "all" ? "every status" : v)));
    const head = h("tr", {}, COLUMNS.map((c) => h("th", { class: c.num ? "num" : null, "data-key": c.key },
      h("button", { type: "button", onclick: () => sortBy(c.key) }, c.label))));
    fill(app,
      h("h1", { id: "title" }),
      h("p", { class: "meta", id: "meta" }),
      liveLine,
      h("h2", {}, "Neurons"),
      h("div", { class: "controls" }, filter, status, h("span", { class: "muted", id: "shown" })),
      h("table", { id: "neurons" }, h("thead", {}, head), h("tbody", { id: "rows" })),
      h("p", { class: "muted" }, "builtin, one-shot and refined: Pearson r on the held-out split, which no step of the loop saw ",
        "(builtin: the free builtin explanation of the sweep's triage); gain: refined minus one-shot on the held-out records ",
        "both simulations read; a running neuron shows its best selection r so far in brackets."),
      h("h2", {}, "Ledger"), h("div", { id: "ledger" }),
      h("h2", {}, "Resolved config"), h("div", { id: "config" }),
    );
  }

  function sortBy(key) {
    table.dir = table.key === key ? -table.dir : 1;
    table.key = key;
    fillTable();
  }

  function fillTable() {
    const rows = current.summary.neurons;
    const shownRows = visibleRows(rows);
    fill(document.getElementById("rows"), shownRows.map((r) =>
      h("tr", { "data-neuron": `${r.layer}/${r.neuron}`, "data-status": r.status },
        COLUMNS.map((c) => h("td", { class: [c.num ? "num" : "", c.key === "explanation" ? "expl" : ""].join(" ").trim() || null,
          title: c.key === "explanation" ? (r.explanation || r.error) : null }, c.cell(r))))));
    for (const th of document.querySelectorAll("#neurons th")) {
      th.setAttribute("aria-sort", th.dataset.key === table.key ? (table.dir > 0 ? "ascending" : "descending") : "none");
    }
    document.getElementById("shown").textContent = `${shownRows.length} of ${plural(rows.length, "neuron")} shown`;
  }

  function ledgerTable(groups, total) {
    const rows = Object.entries(groups).concat(total ? [["total", total]] : []);
    const columns = [...new Set(rows.flatMap(([, v]) => Object.keys(v)))];
    const number = (c, v) => (typeof v !== "number" ? "" : c.includes("usd") ? usd(v) : count(Math.round(v * 100) / 100));
    return h("table", { class: "ledger" },
      h("thead", {}, h("tr", {}, h("th", {}, ""), columns.map((c) => h("th", { class: "num" }, c.replace(/_/g, " "))))),
      h("tbody", {}, rows.map(([name, values]) => h("tr", { class: name === "total" && total ? "total" : null }, h("td", {}, name),
        columns.map((c) => h("td", { class: "num" }, number(c, values[c])))))));
  }

  function ledgerView(ledger) {
    if (!ledger) return h("p", { class: "muted" }, "no ledger.json yet (it is written when a command finishes)");
    const titles = { paid: "Paid, from the call journal (a resumed run never pays twice)", this_process: "The last command's process" };
    return Object.entries(ledger).map(([section, value]) => {
      const parts = value && typeof value === "object" ? value : {};
      const known = ["by_purpose", "by_model"].filter((k) => parts[k] && typeof parts[k] === "object");
      return h("section", { class: "ledger-section" }, h("h3", {}, titles[section] || section),
        known.length ? known.map((k) => [h("h4", {}, k.replace("_", " ")), ledgerTable(parts[k], k === "by_purpose" ? parts.total : null)])
          : h("pre", {}, JSON.stringify(value, null, 2)));
    });
  }

  function fillIndex() {
    const sum = current.summary;
    document.title = `run ${sum.run} · neuron-refinery`;
    fill(document.getElementById("title"), `Run ${sum.run}`);
    const counts = Object.entries(sum.counts).map(([k, v]) => `${v} ${k}`).join(", ") || "no neurons yet";
    fill(document.getElementById("meta"),
      `${plural(sum.neurons.length, "neuron")} (${counts}) · ${count(sum.tokens)} tokens · ${usd(sum.cost_usd)}`
      + (sum.backend ? ` · backend ${sum.backend}` : ""));
    fillTable();
    fill(document.getElementById("ledger"), ledgerView(sum.ledger));
    fill(document.getElementById("config"), sum.config
      ? h("details", {}, h("summary", {}, "config.json (settings, backend, loop parameters, records manifest; no secrets)"),
        h("pre", { id: "config-json" }, JSON.stringify(sum.config, null, 2)))
      : h("p", { class: "muted" }, "no config.json"));
  }

  // --- the neuron page --------------------------------------------------------------------------
  function cards(row) {
    const items = [
      ["builtin r (held-out)", r3(row.baseline)], ["one-shot r (held-out)", r3(row.oneshot)], ["refined r (held-out)", r3(row.refined)],
      ["gain", signed(row.gain) + (failedNote(row) ? ` ${failedNote(row)}` : "")],
      ["refined 95% CI", ci(row.ci)], ["iterations", row.iterations], ["probes", count(row.probes)],
      ["counterexamples", count(row.counterexamples)], ["tokens", count(row.tokens)], ["cost", usd(row.cost_usd)],
      ["seconds", fixed(row.seconds, 1)],
    ];
    if (row.status === "running") items.splice(3, 0, ["best selection r so far", r3(row.best_selection)]);
    return h("div", { class: "cards" }, items.map(([k, v]) => h("div", { class: "card" }, h("div", { class: "k" }, k), h("div", { class: "v" }, v))));
  }

  // Selection r of every candidate per iteration, the best-so-far line, and the two held-out scores.
  function chart(story) {
    const points = story.steps.flatMap((st) => st.candidates.filter((c) => c.score !== null)
      .map((c) => ({ x: st.iteration, y: c.score, top: c.explanation === st.top })));
    const best = story.steps.filter((st) => st.best_score !== null).map((st) => ({ x: st.iteration, y: st.best_score }));
    const held = [["oneshot", story.row.oneshot, "one-shot (held-out)"], ["refined", story.row.refined, "refined (held-out)"]]
      .filter(([, v]) => v !== null);
    if (!points.length) return h("p", { class: "muted" }, "no selection scores yet");
    const ys = points.map((p) => p.y).concat(held.map(([, v]) => v), [0]);
    let lo = Math.min(...ys), hi = Math.max(...ys);
    const pad = Math.max(0.05, (hi - lo) * 0.08);
    lo -= pad; hi += pad;
    const maxX = Math.max(1, ...story.steps.map((st) => st.iteration));
    const W = 760, H = 260, L = 48, R = 180, T = 12, B = 34;
    const x = (v) => L + (v / maxX) * (W - L - R);
    const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
    const svg = s("svg", { class: "chart", id: "score-chart", viewBox: `0 0 ${W} ${H}`, role: "img",
      "aria-label": "selection score per iteration" });
    const raw = (hi - lo) / 4, magnitude = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((m) => m * magnitude).find((m) => m >= raw);
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) {
      add(svg, [s("line", { class: "grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }),
        s("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, (Math.abs(v) < 1e-9 ? 0 : v).toFixed(2))]);
    }
    for (let it = 0; it <= maxX; it++) add(svg, [s("text", { x: x(it), y: H - B + 16, "text-anchor": "middle" }, it)]);
    add(svg, [
      s("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }),
      s("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }),
      s("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle" }, "iteration"),
    ]);
    for (const [kind, v, label] of held) {
      add(svg, [s("line", { class: `ho-${kind}`, x1: L, x2: W - R, y1: y(v), y2: y(v) }),
        s("text", { x: W - R + 6, y: y(v) + 4 }, `${label} ${v.toFixed(3)}`)]);
    }
    if (best.length) {
      add(svg, [s("path", { class: "best", d: best.map((p, i) => `${i ? "L" : "M"}${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`).join(" ") })]);
    }
    for (const p of points) {
      add(svg, [s("circle", { class: p.top ? "cand top" : "cand", cx: x(p.x), cy: y(p.y), r: p.top ? 5 : 3.5 },
        s("title", {}, `iteration ${p.x}: selection r ${p.y.toFixed(3)}`))]);
    }
    return h("div", {}, svg, h("p", { class: "legend" },
      "dots: candidates' selection-split r (blue: the round's best); line: best so far; dashed: held-out r of the final explanations"));
  }

  function callView(call) {
    const flags = [call.cached ? "cached" : "", call.retries ? `${call.retries} retries` : "", call.error ? "failed" : ""].filter(Boolean);
    const label = `${call.purpose} · ${call.model} · ${call.prompt_tokens}+${call.completion_tokens} tokens · `
      + `${call.latency_s.toFixed(2)} s · ${usd(call.cost_usd)}` + (flags.length ? ` · ${flags.join(", ")}` : "");
    return lazyDetails(label, () => h("div", { class: "call" },
      call.messages.map((m) => h("div", { class: "msg" }, h("div", { class: "role" }, m.role), h("pre", {}, m.content))),
      h("div", { class: "msg" }, h("div", { class: "role" }, "response"), h("pre", { class: "response" }, call.response ?? "(none)")),
      call.error ? h("p", { class: "error" }, call.error) : null,
      call.logprobs ? h("p", { class: "muted" }, "logprobs: ", JSON.stringify(call.logprobs)) : null,
      h("p", { class: "muted" }, `node ${call.node || "?"} · prompt ${call.prompt_tokens} tokens · completion ${call.completion_tokens} tokens · `
        + `latency ${call.latency_s.toFixed(3)} s · ${usd(call.cost_usd)}`)));
  }

  function callsView(calls, title) {
    if (!calls.length) return null;
    const tokens = calls.reduce((n, c) => n + c.prompt_tokens + c.completion_tokens, 0);
    const seconds = calls.reduce((n, c) => n + c.latency_s, 0);
    const failed = calls.filter((c) => c.error).length;
    return lazyDetails(`${title}: ${plural(calls.length, "call")} · ${count(tokens)} tokens · ${seconds.toFixed(2)} s`
      + (failed ? ` · ${failed} failed` : ""), () => h("div", { class: "calls" }, calls.map(callView)), { class: "llm-calls" });
  }

  function stepView(step, maxReal) {
    const probes = step.probe_groups.reduce((n, g) => n + g.texts.length, 0);
    return h("article", { class: "step", "data-iteration": step.iteration },
      h("h3", {}, `Iteration ${step.iteration}`, step.source ? ` · ${step.source}` : ""),
      h("ol", { class: "candidates" }, step.candidates.map((c) => h("li", { class: c.explanation === step.top ? "top" : null },
        h("span", { class: "score", title: c.score_reason || "selection-split r" }, c.score === null ? "n/a" : r3(c.score)),
        h("span", { class: "text" }, c.explanation, c.score === null && c.score_reason ? h("span", { class: "muted" }, ` (${c.score_reason})`) : null)))),
      step.decision ? h("p", { class: `decision ${step.decision}` }, `${step.decision}: ${step.reason}`,
        h("span", { class: "muted" }, ` · best selection r ${r3(step.best_score)}`)) : null,
      step.probed !== null ? h("div", { class: "counterexamples" },
        h("h4", {}, `Counterexamples: ${step.counterexamples.length} (against the adopted explanation)`),
        step.counterexamples.map((c) => heatmap(c.text, maxReal, `${c.kind.replace("_", " ")} · ${c.generator} · error ${c.error.toFixed(2)} / 10`))) : null,
      step.probe_groups.length ? lazyDetails(`Probes: ${plural(probes, "text")} (${step.probe_groups.map((g) => `${g.generator} ${g.texts.length}`).join(", ")})`,
        () => h("div", {}, step.probe_groups.map((g) => lazyDetails(`${g.generator} (${g.texts.length})`,
          () => h("div", {}, g.texts.map((t) => heatmap(t, maxReal, null))))))) : null,
      callsView(step.calls, "LLM calls"),
      step.errors.map((e) => h("p", { class: "error" }, `error in ${e}`)),
      discardedView(step.discarded || []));
  }

  // Answers of the step's explain or revise calls that gave no candidate: how many, and why.
  function discardedView(discarded) {
    const purposes = [...new Set(discarded.map((d) => d.purpose))];
    return purposes.map((purpose) => {
      const mine = discarded.filter((d) => d.purpose === purpose);
      return h("p", { class: "discarded" }, `Discarded ${purpose} answers (${mine.reduce((n, d) => n + d.count, 0)}): `,
        mine.map((d) => `${d.count} × ${d.reason}`).join("; "));
    });
  }

  function scorersView(s) {
    if (!s) return null;
    const simulated = h("p", { class: "scorers" },
      `beside r: detection ${r3(s.detection)} · fuzzing ${r3(s.fuzzing)} (balanced accuracy, chance 0.5) · random records: `
      + `F1 ${r3(s.f1)} · IoU ${r3(s.iou)} · AUPRC ${r3(s.auprc)} · r ${r3(s.random_r)} `
      + `(active: ≥ ${s.active_fraction} of the max, ${s.threshold.toPrecision(3)}; judge: ${s.judge})`);
    const j = s.llm;
    if (!j) return simulated;
    const left = j.unanswered ? `; ${j.unanswered} texts unanswered (${j.unreadable[0]})` : "";
    const cached = j.cached_calls ? `, ${j.cached_calls} from the journal` : "";
    return [simulated, h("p", { class: "scorers llm-judge" },
      `LLM judge ${j.model}: detection ${r3(j.detection)} · fuzzing ${r3(j.fuzzing)} on ${j.texts} texts${left} · `
      + `${j.calls} calls${cached}, ${j.prompt_tokens + j.completion_tokens} tokens, $${j.cost_usd.toFixed(4)}`)];
  }

  function tokenList(values) {
    return values.map((t) => `${JSON.stringify(t.token)} ${t.value >= 0 ? "+" : ""}${t.value.toPrecision(2)}`).join(", ");
  }

  function outputView(side) {
    if (!side) return h("p", { class: "muted" }, "not read (the subject's weights were not at hand, or the option was off)");
    const rows = [["promotes", tokenList(side.vocab.promoted_normed)], ["suppresses", tokenList(side.vocab.suppressed_normed)],
      ["promotes (raw, no final-norm scale)", tokenList(side.vocab.promoted)], ["suppresses (raw)", tokenList(side.vocab.suppressed)]];
    for (const [key, c] of Object.entries(side.changes)) {
      rows.push([`${key}: next-token loss`, `${c.loss_clean.toFixed(4)} → ${c.loss_changed.toFixed(4)} (${c.delta_loss >= 0 ? "+" : ""}${c.delta_loss.toFixed(4)} nats, ${c.positions} positions)`]);
      rows.push([`${key}: rises / falls`, `${tokenList(c.risen.slice(0, 5))} / ${tokenList(c.fallen.slice(0, 5))}`]);
    }
    return h("div", { class: "output-side" },
      h("table", {}, rows.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v)))),
      h("p", { class: "muted" }, `${side.records} top records, ${side.seconds.toFixed(1)} s`));
  }

  function heldoutView(story) {
    if (!story.heldout.length) return h("p", { class: "muted" }, story.row.status === "running" ? "the held-out split is scored when the loop ends" : "no held-out score");
    const refinedFirst = [...story.heldout].sort((a, b) => (a.role === "refined" ? -1 : 1) - (b.role === "refined" ? -1 : 1));
    return refinedFirst.map((item, i) => {
      const name = { refined: "Refined", oneshot: "One-shot", baseline: "Free builtin" }[item.role];
      const head = `${name} explanation · held-out r ${r3(item.score)} · 95% CI ${ci(item.ci)}`
        + (item.reason ? ` (${item.reason})` : "")
        + (item.failed.length ? ` · simulation failed on ${plural(item.failed.length, "record")}` : "");
      const records = () => h("div", { class: "heldout-records" }, item.records.map((rec, j) => heatmap(rec, story.max_real, `record ${j + 1}`)));
      const body = [h("div", { class: "explanation" }, item.explanation), scorersView(item.scorers),
        item.records.length ? null : h("p", { class: "muted" }, "no per-record simulations recorded")];
      return i === 0
        ? h("div", { class: "heldout", "data-role": item.role }, h("h3", {}, head), body, item.records.length ? records() : null)
        : lazyDetails(head, () => h("div", { class: "heldout", "data-role": item.role }, body, records()));
    });
  }

  function renderNeuron() {
    const story = current.story, row = story.row;
    document.title = `neuron ${row.layer}/${row.neuron} · run ${story.run} · neuron-refinery`;
    const stop = story.stop ? `stopped: ${story.stop}` + (story.stop_reason ? ` (${story.stop_reason})` : "") : null;
    fill(app,
      h("nav", {}, h("a", { href: "../index.html", id: "back" }, `← run ${story.run}`)),
      h("h1", {}, `Neuron ${row.layer}/${row.neuron}`, badge(row.status, row.now)),
      h("p", { class: "meta" }, [row.now ? `at ${row.now}` : null, stop, row.method ? `simulator ${row.method}` : null].filter(Boolean).join(" · ")),
      liveLine,
      row.error ? h("p", { class: "error" }, row.error) : null,
      row.problems.map((p) => h("p", { class: "error" }, `degraded: ${p}`)),
      story.notes.map((n) => h("p", { class: "note" }, n)),
      cards(row),
      h("h2", {}, "Score per iteration"), chart(story),
      h("h2", {}, "Held-out records: real vs simulated"), legend(story.max_real), heldoutView(story),
      h("h2", {}, "What the neuron does (output side)"), outputView(story.output),
      h("h2", {}, "Explanation history, probes and counterexamples"),
      story.steps.length ? story.steps.map((st) => stepView(st, story.max_real)) : h("p", { class: "muted" }, "no completed step yet"),
      story.final_calls.length ? [h("h2", {}, "Held-out scoring"), callsView(story.final_calls, "LLM calls")] : null,
      h("h2", {}, "Backend and loop parameters"),
      h("pre", {}, JSON.stringify({ backend: story.backend, params: story.params }, null, 2)),
    );
  }

  function render(first) {
    if (current.page === "index") {
      if (first) indexSkeleton();
      fillIndex();
    } else {
      renderNeuron();
    }
  }

  render(true);
  startLive();
})();
