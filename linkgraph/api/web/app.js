// linkgraph backlink explorer: vanilla JavaScript over the JSON API of `linkgraph serve`.
//
// Every value from the index reaches the page through textContent or an SVG
// attribute, never as markup. The state of a search lives in the location hash
// (#target=…&scope=…&location=…), so searches can be bookmarked and the back button works.
// document.body.dataset.state is "idle", "loading", "ready" or "error".

"use strict";

(() => {
  const TOKEN_KEY = "linkgraph.token";
  const BACKLINKS_PAGE = 50;
  const REFDOMAINS_PAGE = 25;
  const TOP_ANCHORS = 10;
  const MIN_DAYS = 14; // the day chart shows at least two weeks
  const MAX_FILLED_DAYS = 370; // beyond this, days without links are left out
  const SVG_NS = "http://www.w3.org/2000/svg";
  const LOCATIONS = ["content", "nav", "header", "footer", "aside", "other"];
  const SITEWIDE = ["true", "false"];

  const $ = (id) => document.getElementById(id);
  const numbers = new Intl.NumberFormat("en");
  const percent = new Intl.NumberFormat("en", { style: "percent", maximumFractionDigits: 1 });

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // -- the API ----------------------------------------------------------------

  let tokenPrompt = null;

  function updateTokenButton() {
    $("forget-token").hidden = !sessionStorage.getItem(TOKEN_KEY);
  }

  // One dialog for every request that met a 401 at the same time.
  function askToken(rejected) {
    if (tokenPrompt) return tokenPrompt;
    tokenPrompt = new Promise((resolve, reject) => {
      const dialog = $("token-dialog");
      const input = $("token-input");
      $("token-error").textContent = rejected ? "That token was not accepted." : "";
      input.value = "";
      dialog.returnValue = "";
      dialog.addEventListener(
        "close",
        () => {
          tokenPrompt = null;
          const value = input.value.trim();
          input.value = "";
          if (dialog.returnValue === "save" && value) {
            sessionStorage.setItem(TOKEN_KEY, value);
            updateTokenButton();
            resolve();
          } else {
            reject(new ApiError(401, "This server needs an API token."));
          }
        },
        { once: true },
      );
      dialog.showModal();
      input.focus();
    });
    return tokenPrompt;
  }

  async function api(endpoint, params) {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) {
      if (value === undefined || value === null || value === "" || value === false) continue;
      query.append(name, value === true ? "true" : String(value));
    }
    for (let attempt = 0; attempt < 8; attempt += 1) {
      const headers = { Accept: "application/json" };
      const token = sessionStorage.getItem(TOKEN_KEY);
      if (token) headers.Authorization = `Bearer ${token}`;
      let response;
      try {
        response = await fetch(`api/v1/${endpoint}?${query}`, { headers, cache: "no-store" });
      } catch {
        throw new ApiError(0, "The server cannot be reached.");
      }
      let body = null;
      try {
        body = await response.json();
      } catch {
        body = null;
      }
      if (response.status === 401) {
        // Another request may have got a new token while this one was refused.
        if (sessionStorage.getItem(TOKEN_KEY) !== token) continue;
        if (token) sessionStorage.removeItem(TOKEN_KEY);
        updateTokenButton();
        await askToken(Boolean(token));
        continue;
      }
      if (!response.ok) {
        const message = body && typeof body.error === "string" ? body.error : `HTTP ${response.status}`;
        throw new ApiError(response.status, message);
      }
      return body;
    }
    throw new ApiError(401, "This server needs an API token.");
  }

  // -- small helpers ----------------------------------------------------------

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  function svg(tag, attrs = {}, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svgTitle(node, text) {
    node.append(svg("title", {}, text));
    return node;
  }

  function shortTime(iso) {
    return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : "–";
  }

  function dateCell(iso) {
    return el("td", { class: "date", title: iso || "", text: iso ? iso.slice(0, 10) : "–" });
  }

  function truncate(text, size) {
    return text.length <= size ? text : `${text.slice(0, size - 1)}…`;
  }

  function urlCell(url) {
    if (/^https?:\/\//i.test(url)) {
      return el(
        "td",
        { class: "url" },
        el("a", { href: url, rel: "nofollow noopener noreferrer", target: "_blank", text: url }),
      );
    }
    return el("td", { class: "url", text: url });
  }

  function setStatus(message, isError = false) {
    const status = $("status");
    status.textContent = message;
    status.classList.toggle("error", isError);
  }

  function setState(state) {
    document.body.dataset.state = state;
    $("results").setAttribute("aria-busy", state === "loading" ? "true" : "false");
  }

  // -- search state -----------------------------------------------------------

  function readForm() {
    return {
      target: $("target").value.trim(),
      scope: $("scope").value,
      include_internal: $("include_internal").checked,
      dofollow_only: $("dofollow_only").checked,
      broken: $("broken").checked,
      location: $("location").value,
      sitewide: $("sitewide").value,
    };
  }

  function writeForm(state) {
    $("target").value = state.target;
    $("scope").value = state.scope;
    $("include_internal").checked = state.include_internal;
    $("dofollow_only").checked = state.dofollow_only;
    $("broken").checked = state.broken;
    $("location").value = state.location;
    $("sitewide").value = state.sitewide;
  }

  function stateFromHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    const target = (params.get("target") || "").trim();
    if (!target) return null;
    const scope = params.get("scope") || "";
    const where = params.get("location") || "";
    const sitewide = params.get("sitewide") || "";
    return {
      target,
      scope: ["domain", "host", "url", "prefix"].includes(scope) ? scope : "",
      include_internal: params.get("include_internal") === "1",
      dofollow_only: params.get("dofollow_only") === "1",
      broken: params.get("broken") === "1",
      location: LOCATIONS.includes(where) ? where : "",
      sitewide: SITEWIDE.includes(sitewide) ? sitewide : "",
    };
  }

  function hashOf(state) {
    const params = new URLSearchParams({ target: state.target });
    if (state.scope) params.set("scope", state.scope);
    if (state.include_internal) params.set("include_internal", "1");
    if (state.dofollow_only) params.set("dofollow_only", "1");
    if (state.broken) params.set("broken", "1");
    if (state.location) params.set("location", state.location);
    if (state.sitewide) params.set("sitewide", state.sitewide);
    return params.toString();
  }

  function queryOf(state) {
    return {
      target: state.target,
      scope: state.scope,
      include_internal: state.include_internal,
      dofollow_only: state.dofollow_only,
      broken: state.broken,
      location: state.location,
      sitewide: state.sitewide,
    };
  }

  // -- rendering: summary -----------------------------------------------------

  let current = null; // the search on screen: its state and the data to redraw charts
  let generation = 0; // a newer search makes older answers stale

  function renderSummary(summary) {
    $("heading-target").textContent = summary.target.text;
    $("heading-scope").textContent = summary.target.scope;
    $("card-backlinks").textContent = numbers.format(summary.backlinks);
    $("note-backlinks").textContent = `to ${numbers.format(summary.target_urls)} URL${summary.target_urls === 1 ? "" : "s"}`;
    $("card-refdomains").textContent = numbers.format(summary.refdomains);
    $("note-refdomains").textContent = `${numbers.format(summary.dofollow_refdomains)} with dofollow links`;
    $("card-dofollow").textContent =
      summary.dofollow_share === null ? "–" : percent.format(summary.dofollow_share);
    $("note-dofollow").textContent = `${numbers.format(summary.dofollow_backlinks)} dofollow links`;
    $("card-seen").textContent = summary.first_seen ? summary.first_seen.slice(0, 10) : "–";
    $("card-seen").title = summary.first_seen || "";
    $("note-seen").textContent = summary.last_seen ? `last seen ${shortTime(summary.last_seen)} UTC` : "no links yet";
    renderLocations(summary);
  }

  // Backlinks per location as bars, each as wide as its share; sitewide and broken counts.
  function renderLocations(summary) {
    const container = $("locations-chart");
    const total = summary.backlinks;
    if (!total) {
      emptyChart(container, "No links, so nowhere to place them.");
    } else {
      const list = el("ul", { class: "locations", "aria-label": "Backlinks by location" });
      for (const name of LOCATIONS) {
        const count = summary.locations[name] || 0;
        const share = count / total;
        // Set through the CSSOM: the page's Content-Security-Policy refuses style attributes.
        const fill = el("span", { class: "fill" });
        fill.style.width = `${(share * 100).toFixed(1)}%`;
        list.append(
          el(
            "li",
            { "data-location": name, "data-count": String(count), title: `${name}: ${numbers.format(count)} backlinks` },
            el("span", { class: "label", text: name }),
            el("span", { class: "track" }, fill),
            el("span", { class: "count", text: percent.format(share) }),
          ),
        );
      }
      container.replaceChildren(list);
    }
    $("sitewide-note").textContent = `${numbers.format(summary.sitewide_backlinks)} sitewide`;
    $("broken-note").textContent = `${numbers.format(summary.broken_backlinks)} broken`;
    $("broken-view").hidden = !summary.broken_backlinks || current.state.broken;
  }

  // -- rendering: charts ------------------------------------------------------

  function chartWidth(container) {
    return Math.max(300, Math.floor(container.clientWidth || 560));
  }

  function niceMax(value) {
    if (value <= 4) return Math.max(1, value);
    const power = 10 ** Math.floor(Math.log10(value));
    for (const step of [1, 2, 2.5, 5, 10]) {
      if (step * power >= value) return step * power;
    }
    return 10 * power;
  }

  function emptyChart(container, message) {
    container.replaceChildren(el("p", { class: "empty", text: message }));
  }

  function renderAnchors(rows) {
    const container = $("anchors-chart");
    if (!rows.length) {
      emptyChart(container, "No anchor texts: no links, or none of kind a.");
      return;
    }
    const width = chartWidth(container);
    const rowHeight = 28;
    const labelWidth = Math.min(220, Math.floor(width * 0.38));
    const valueWidth = 44;
    const barSpace = width - labelWidth - valueWidth - 8;
    const height = rows.length * rowHeight + 4;
    const top = Math.max(...rows.map((r) => r.refdomains), 1);
    const described = rows
      .map((r) => `${r.anchor || "no text"}: ${r.refdomains} referring domains, ${r.links} links`)
      .join("; ");
    const chart = svg("svg", {
      viewBox: `0 0 ${width} ${height}`,
      width,
      height,
      role: "img",
      "aria-label": `Top anchors by referring domains. ${described}`,
    });
    rows.forEach((row, i) => {
      const y = i * rowHeight + 2;
      const text = row.anchor || "(no text)";
      const chars = Math.max(8, Math.floor(labelWidth / 7.2));
      const label = svg(
        "text",
        { x: labelWidth - 8, y: y + rowHeight / 2 + 4, "text-anchor": "end", class: row.anchor ? "label" : "" },
        truncate(text, chars),
      );
      const size = Math.max(2, Math.round((row.refdomains / top) * barSpace));
      const bar = svg("rect", {
        x: labelWidth,
        y: y + 4,
        width: size,
        height: rowHeight - 8,
        rx: 3,
        class: "bar",
        "data-anchor": row.anchor,
        "data-refdomains": row.refdomains,
      });
      const note = `${text}: ${numbers.format(row.refdomains)} referring domains, ${numbers.format(row.links)} links (${numbers.format(row.dofollow_links)} dofollow)`;
      const group = svgTitle(svg("g"), note);
      group.append(
        label,
        bar,
        svg(
          "text",
          { x: labelWidth + size + 6, y: y + rowHeight / 2 + 4, class: "value" },
          numbers.format(row.refdomains),
        ),
      );
      chart.append(group);
    });
    container.replaceChildren(chart);
  }

  function addDays(day, count) {
    const date = new Date(`${day}T00:00:00Z`);
    date.setUTCDate(date.getUTCDate() + count);
    return date.toISOString().slice(0, 10);
  }

  // Consecutive days from the first link to the last (at least MIN_DAYS), zeros filled in.
  function fillDays(rows) {
    if (!rows.length) return [];
    const byDay = new Map(rows.map((r) => [r.day, r]));
    const last = rows[rows.length - 1].day;
    let first = rows[0].day;
    const span = (Date.parse(`${last}T00:00:00Z`) - Date.parse(`${first}T00:00:00Z`)) / 86400000 + 1;
    if (span > MAX_FILLED_DAYS) return rows;
    if (span < MIN_DAYS) first = addDays(last, 1 - MIN_DAYS);
    const filled = [];
    for (let day = first; day <= last; day = addDays(day, 1)) {
      filled.push(byDay.get(day) || { day, new_backlinks: 0, new_refdomains: 0, lost_backlinks: null });
    }
    return filled;
  }

  function renderDays(perDay) {
    const container = $("days-chart");
    const legend = $("days-legend");
    const days = fillDays(perDay.rows);
    const tracksLost = perDay.rows.some((r) => typeof r.lost_backlinks === "number");
    legend.replaceChildren(
      el("li", {}, el("span", { class: "swatch" }), "new links"),
      el("li", {}, el("span", { class: "swatch new-domains" }), "new referring domains"),
      tracksLost
        ? el("li", {}, el("span", { class: "swatch lost" }), "lost links")
        : el("li", { class: "muted", text: "no lost links" }),
    );
    if (!days.length) {
      emptyChart(container, "No links, so nothing per day.");
      return;
    }
    const width = chartWidth(container);
    const margin = { left: 40, right: 8, top: 10, bottom: 24 };
    const upper = 160;
    const lower = tracksLost ? 60 : 0;
    const height = margin.top + upper + lower + margin.bottom;
    const plot = width - margin.left - margin.right;
    const zero = margin.top + upper;
    const top = niceMax(Math.max(...days.map((d) => Math.max(d.new_backlinks, d.new_refdomains)), 1));
    const bottom = tracksLost ? niceMax(Math.max(...days.map((d) => d.lost_backlinks || 0), 1)) : 1;
    const slot = plot / days.length;
    const gap = slot > 6 ? Math.min(4, slot * 0.2) : 0;
    const barWidth = Math.max(1, (slot - gap) / 2);
    const totalNew = days.reduce((sum, d) => sum + d.new_backlinks, 0);
    const chart = svg("svg", {
      viewBox: `0 0 ${width} ${height}`,
      width,
      height,
      role: "img",
      "aria-label": `New links per day from ${days[0].day} to ${days[days.length - 1].day}: ${totalNew} links in all, at most ${Math.max(...days.map((d) => d.new_backlinks))} on one day.`,
    });
    for (const fraction of [0.5, 1]) {
      const y = zero - upper * fraction;
      chart.append(
        svg("line", { x1: margin.left, x2: width - margin.right, y1: y, y2: y, class: "grid" }),
        svg("text", { x: margin.left - 6, y: y + 4, "text-anchor": "end" }, numbers.format(top * fraction)),
      );
    }
    chart.append(svg("text", { x: margin.left - 6, y: zero + 4, "text-anchor": "end" }, "0"));
    if (tracksLost) {
      chart.append(
        svg("text", { x: margin.left - 6, y: zero + lower, "text-anchor": "end" }, `−${numbers.format(bottom)}`),
      );
    }
    days.forEach((d, i) => {
      const x = margin.left + i * slot + gap / 2;
      const title = `${d.day}: ${numbers.format(d.new_backlinks)} new links, ${numbers.format(d.new_refdomains)} new referring domains${typeof d.lost_backlinks === "number" ? `, ${numbers.format(d.lost_backlinks)} lost` : ""}`;
      const group = svgTitle(svg("g", { "data-day": d.day }), title);
      const h1 = (d.new_backlinks / top) * upper;
      const h2 = (d.new_refdomains / top) * upper;
      if (d.new_backlinks > 0) {
        group.append(svg("rect", { x, y: zero - h1, width: barWidth, height: h1, class: "bar", "data-count": d.new_backlinks }));
      }
      if (d.new_refdomains > 0) {
        group.append(svg("rect", { x: x + barWidth, y: zero - h2, width: barWidth, height: h2, class: "bar-2" }));
      }
      if (typeof d.lost_backlinks === "number" && d.lost_backlinks > 0) {
        const h3 = (d.lost_backlinks / bottom) * lower;
        group.append(svg("rect", { x, y: zero, width: barWidth * 2, height: h3, class: "bar-lost" }));
      }
      // An invisible full-height target so the tooltip works on empty days too.
      group.append(svg("rect", { x: margin.left + i * slot, y: margin.top, width: slot, height: upper + lower, fill: "transparent" }));
      chart.append(group);
    });
    chart.append(svg("line", { x1: margin.left, x2: width - margin.right, y1: zero, y2: zero, class: "axis" }));
    const labels = days.length === 1 ? [0] : [0, Math.floor((days.length - 1) / 2), days.length - 1];
    for (const i of new Set(labels)) {
      const anchor = i === 0 ? "start" : i === days.length - 1 ? "end" : "middle";
      const x = i === 0 ? margin.left : i === days.length - 1 ? width - margin.right : margin.left + (i + 0.5) * slot;
      chart.append(svg("text", { x, y: height - 6, "text-anchor": anchor }, days[i].day));
    }
    container.replaceChildren(chart);
  }

  // -- rendering: tables ------------------------------------------------------

  function noRows(tbody, columns, message) {
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: columns, class: "none", text: message })));
  }

  function appendRefdomains(result, replace) {
    const tbody = $("refdomains-table").tBodies[0];
    if (replace) {
      tbody.replaceChildren();
      current.refdomainsShown = 0;
    }
    current.refdomainsShown += result.rows.length;
    for (const row of result.rows) {
      tbody.append(
        el(
          "tr",
          {},
          el("td", { class: "url", text: row.source_domain }),
          el("td", { class: "num", text: numbers.format(row.authority) }),
          spamCell(row),
          el("td", { class: "num", text: numbers.format(row.links) }),
          el("td", { class: "num", text: numbers.format(row.dofollow_links) }),
          el("td", { class: "num", text: numbers.format(row.target_urls) }),
          el("td", { class: "topics", text: (row.topics || []).join(", ") || "–" }),
          dateCell(row.first_seen),
          dateCell(row.last_seen),
        ),
      );
    }
    if (replace && !result.rows.length) noRows(tbody, 8, "No referring domains.");
    current.refdomainsCursor = result.next_cursor;
    const shown = current.refdomainsShown;
    $("refdomains-more").hidden = !result.next_cursor;
    $("refdomains-count").textContent = current.summary
      ? `${numbers.format(shown)} of ${numbers.format(current.summary.refdomains)}`
      : "";
  }

  // The spam score; the signals that make it up on hover (title) and when expanded.
  function spamCell(row) {
    const cell = el("td", { class: "num spam" });
    const signals = row.spam_signals || [];
    if (!signals.length) {
      cell.append(el("span", { text: numbers.format(row.spam_score) }));
      return cell;
    }
    const lines = signals.map((s) => {
      const rule = typeof s.threshold === "number" ? `≥ ${s.threshold}` : s.threshold;
      return `${s.signal.replaceAll("_", " ")}: ${s.value} (${rule}) +${s.weight}`;
    });
    const list = el("ul", { class: "signals" });
    signals.forEach((s, i) => list.append(el("li", { "data-signal": s.signal, text: lines[i] })));
    cell.append(
      el(
        "details",
        { title: lines.join("\n") },
        el("summary", { text: numbers.format(row.spam_score) }),
        list,
      ),
    );
    return cell;
  }

  function flags(row) {
    const cell = el("td");
    const names = [row.kind === "a" ? "link" : row.kind];
    if (row.image) names.push("image");
    for (const rel of ["nofollow", "ugc", "sponsored"]) if (row[rel]) names.push(rel);
    for (const name of names) cell.append(el("span", { class: `flag ${name}`, text: name }));
    if (row.link_count > 1) cell.append(el("span", { class: "muted", text: ` ×${row.link_count}` }));
    return cell;
  }

  // The visible text around the link on its page, the anchor highlighted.
  function contextCell(row) {
    const cell = el("td", { class: "context" });
    if (row.kind !== "a") return cell;
    cell.append(
      el("span", { class: "context-before", text: row.text_before ? `${row.text_before} ` : "" }),
      el("mark", { text: row.anchor || "(no text)" }),
      el("span", { class: "context-after", text: row.text_after ? ` ${row.text_after}` : "" }),
    );
    return cell;
  }

  // Where the link sits, whether it is a template link, and whether its target is broken or it is lost.
  function locationCell(row) {
    const cell = el("td", { class: "location" }, el("span", { class: "where", text: row.location }));
    const notes = [];
    if (row.sitewide) notes.push(["sitewide", "sitewide"]);
    if (typeof row.target_status === "number" && row.target_status >= 400) {
      notes.push(["broken", `broken ${row.target_status}`]);
    }
    if (row.lost_reason) notes.push(["lost", `lost: ${row.lost_reason.replace("_", " ")}`]);
    for (const [name, text] of notes) cell.append(" ", el("span", { class: `flag ${name}`, text }));
    return cell;
  }

  // Topical relevance of the link, 0-1 (null: neither side's text is known).
  function relevanceCell(value) {
    if (typeof value !== "number") return el("td", { class: "num relevance", title: "unknown", text: "–" });
    return el("td", { class: "num relevance", title: String(value), text: value.toFixed(2) });
  }

  function renderBacklinks(result) {
    const tbody = $("backlinks-table").tBodies[0];
    tbody.replaceChildren();
    for (const row of result.rows) {
      const anchor = row.anchor
        ? el("td", { class: "anchor", text: row.anchor })
        : el("td", { class: "anchor" }, el("span", { class: "empty-anchor", text: row.kind === "a" ? "(no text)" : "—" }));
      tbody.append(
        el(
          "tr",
          { "data-source": row.source_url, "data-target": row.target_url, "data-kind": row.kind },
          urlCell(row.source_url),
          anchor,
          contextCell(row),
          locationCell(row),
          relevanceCell(row.relevance),
          urlCell(row.target_url),
          flags(row),
          dateCell(row.first_seen),
          dateCell(row.last_seen),
        ),
      );
    }
    if (!result.rows.length) noRows(tbody, 9, "No backlinks.");
    const pager = current.backlinks;
    pager.next = result.next_cursor;
    const start = pager.index * BACKLINKS_PAGE;
    $("backlinks-page").textContent = result.rows.length
      ? `Page ${pager.index + 1} · links ${numbers.format(start + 1)}–${numbers.format(start + result.rows.length)}`
      : "";
    $("backlinks-prev").disabled = pager.index === 0;
    $("backlinks-next").disabled = !result.next_cursor;
  }

  // -- searches ---------------------------------------------------------------

  async function run(state) {
    const mine = ++generation;
    const query = queryOf(state);
    current = {
      state,
      summary: null,
      anchors: [],
      refdomainsCursor: null,
      refdomainsShown: 0,
      backlinks: { cursors: [null], index: 0, next: null },
    };
    setState("loading");
    setStatus(`Searching for links to ${state.target}…`);
    $("search-button").disabled = true;
    try {
      const [summary, refdomains, anchors, backlinks] = await Promise.all([
        api("summary", query),
        api("refdomains", { ...query, limit: REFDOMAINS_PAGE }),
        api("anchors", { ...query, limit: TOP_ANCHORS }),
        api("backlinks", { ...query, limit: BACKLINKS_PAGE }),
      ]);
      if (mine !== generation) return;
      current.summary = summary;
      current.anchors = anchors.rows;
      $("intro").hidden = true;
      $("results").hidden = false;
      renderSummary(summary);
      renderAnchors(anchors.rows);
      renderDays(summary.per_day);
      appendRefdomains(refdomains, true);
      renderBacklinks(backlinks);
      document.title = `${summary.target.text} · linkgraph`;
      setStatus(
        `${numbers.format(summary.backlinks)} backlinks from ${numbers.format(summary.refdomains)} referring domains.`,
      );
      setState("ready");
    } catch (error) {
      if (mine !== generation) return;
      setStatus(error.message, true);
      setState("error");
    } finally {
      if (mine === generation) $("search-button").disabled = false;
    }
  }

  async function more(action) {
    const mine = generation;
    try {
      await action();
    } catch (error) {
      if (mine === generation) setStatus(error.message, true);
    }
  }

  function onMoreRefdomains() {
    more(async () => {
      const result = await api("refdomains", {
        ...queryOf(current.state),
        limit: REFDOMAINS_PAGE,
        cursor: current.refdomainsCursor,
      });
      appendRefdomains(result, false);
    });
  }

  function onBacklinksPage(step) {
    more(async () => {
      const pager = current.backlinks;
      const index = pager.index + step;
      if (index < 0) return;
      if (step > 0) {
        if (!pager.next) return;
        pager.cursors[index] = pager.next;
      }
      const result = await api("backlinks", {
        ...queryOf(current.state),
        limit: BACKLINKS_PAGE,
        cursor: pager.cursors[index],
      });
      pager.index = index;
      renderBacklinks(result);
      $("backlinks-title").scrollIntoView({ block: "nearest" });
    });
  }

  // The broken-backlinks view: the same search, broken links only.
  function onBrokenView() {
    if (!current) return;
    location.hash = hashOf({ ...current.state, broken: true });
  }

  function onHash() {
    const state = stateFromHash();
    if (!state) return;
    writeForm(state);
    run(state);
  }

  function onSubmit(event) {
    event.preventDefault();
    const state = readForm();
    if (!state.target) {
      $("target").focus();
      return;
    }
    const hash = hashOf(state);
    if (location.hash.slice(1) === hash) run(state);
    else location.hash = hash; // the hashchange handler runs the search
  }

  let resizeTimer = 0;
  function onResize() {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      if (current && current.summary) {
        renderAnchors(current.anchors);
        renderDays(current.summary.per_day);
      }
    }, 150);
  }

  function start() {
    setState("idle");
    updateTokenButton();
    $("search").addEventListener("submit", onSubmit);
    $("refdomains-more").addEventListener("click", onMoreRefdomains);
    $("broken-view").addEventListener("click", onBrokenView);
    $("backlinks-prev").addEventListener("click", () => onBacklinksPage(-1));
    $("backlinks-next").addEventListener("click", () => onBacklinksPage(1));
    $("forget-token").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      updateTokenButton();
      setStatus("The token is forgotten.");
    });
    window.addEventListener("hashchange", onHash);
    window.addEventListener("resize", onResize);
    if (stateFromHash()) onHash();
    else $("target").focus();
  }

  start();
})();
