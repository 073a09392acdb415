/* pypi-edge pages: served from /-/static/ under a CSP with script-src 'self' (no inline script).
 * Everything here is an enhancement: the pages are complete without it. */
(function () {
  "use strict";
  var doc = document;

  /* Links other than the files are written <a data-href> so that pip and pypi-simple, which
   * read every <a href> of a project page, see only the files (indexer/about.py). Only web,
   * mail and same-page links become live. */
  function live(a) {
    var h = a.getAttribute("data-href"), u;
    try { u = new URL(h, location.href); } catch (e) { return; }
    if (!/^(https?|mailto):$/.test(u.protocol)) return;
    a.setAttribute("href", h);
    if (u.origin !== location.origin) a.setAttribute("rel", "nofollow noopener noreferrer");
  }
  Array.prototype.forEach.call(doc.querySelectorAll("a[data-href]"), live);

  /* A dependency becomes a link when this index has the project (one HEAD, cached like a page). */
  Array.prototype.forEach.call(doc.querySelectorAll("[data-dep]"), function (el) {
    var url = "../" + el.getAttribute("data-dep") + "/";
    fetch(url, { method: "HEAD" }).then(function (r) {
      if (!r.ok) return;
      var a = doc.createElement("a");
      a.href = url;
      a.textContent = el.textContent;
      el.textContent = "";
      el.appendChild(a);
    }, function () {});
  });

  /* The index URL, when the indexer was not told it (PYPI_EDGE_PUBLIC_URL): this page's origin. */
  Array.prototype.forEach.call(doc.querySelectorAll("[data-origin]"), function (el) {
    el.textContent = el.textContent.split("https://<index-host>").join(location.origin);
  });

  /* Copy buttons: the text of the element they name, or the sha256 of their row's file. */
  function copyText(button) {
    var id = button.getAttribute("data-copy");
    if (id) return doc.getElementById(id).textContent;
    var a = button.closest("tr").querySelector("a[href*='#sha256=']");
    return a.getAttribute("href").split("#sha256=")[1];
  }
  if (navigator.clipboard) {
    Array.prototype.forEach.call(doc.querySelectorAll("button.copy"), function (b) { b.hidden = false; });
    doc.addEventListener("click", function (ev) {
      var b = ev.target.closest && ev.target.closest("button.copy");
      if (!b) return;
      var label = b.textContent;
      navigator.clipboard.writeText(copyText(b)).then(function () {
        b.textContent = "Copied";
        b.classList.add("done");
        setTimeout(function () { b.textContent = label; b.classList.remove("done"); }, 1500);
      });
    });
  }

  /* Tabs (WAI-ARIA tabs pattern): without script every panel shows, under its own title. */
  Array.prototype.forEach.call(doc.querySelectorAll("[data-tabs]"), function (box) {
    var tabs = Array.prototype.slice.call(box.querySelectorAll("[role=tab]"));
    function select(tab, focus) {
      tabs.forEach(function (t) {
        var on = t === tab;
        t.setAttribute("aria-selected", on ? "true" : "false");
        t.tabIndex = on ? 0 : -1;
        doc.getElementById(t.getAttribute("aria-controls")).hidden = !on;
      });
      if (focus) tab.focus();
      try { localStorage.setItem("pypi-edge-tool", tab.getAttribute("data-tool")); } catch (e) {}
    }
    var saved = null;
    try { saved = localStorage.getItem("pypi-edge-tool"); } catch (e) {}
    box.querySelector("[role=tablist]").hidden = false;
    box.classList.add("tabbed");
    select(tabs.filter(function (t) { return t.getAttribute("data-tool") === saved; })[0] || tabs[0], false);
    tabs.forEach(function (t, i) {
      t.addEventListener("click", function () { select(t, false); });
      t.addEventListener("keydown", function (ev) {
        var n = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[ev.key];
        if (n === undefined) return;
        ev.preventDefault();
        select(tabs[(n + tabs.length) % tabs.length], true);
      });
    });
  });

  /* The root's filter: PEP 503-normalized substring match on name and summary. The full list
   * stays as written (blocks of rows that the browser renders only on screen); while a filter is
   * set, it is hidden and the matches are shown in a short list of their own, so a keystroke
   * costs one pass over precomputed strings and at most LIMIT rows, whatever the index's size. */
  var box = doc.getElementById("filter");
  if (!box) return;
  var LIMIT = 500;
  var list = doc.getElementById("projects"), count = doc.getElementById("count");
  var none = doc.getElementById("nomatch"), more = doc.getElementById("more"), rows, keys;
  var results = doc.createElement("ul");
  results.className = "results";
  results.hidden = true;
  list.appendChild(results);
  var total = Number(count.getAttribute("data-total"));
  function norm(s) { return s.toLowerCase().replace(/[-_.]+/g, "-"); }
  function plural(n) { return n === 1 ? " project" : " projects"; }
  /* The match strings are made while the page is idle, so the first keystroke does not wait. */
  var pending = false, made = 0;
  rows = list.querySelectorAll("ul.block > li");
  keys = new Array(rows.length);
  function makeKeys(deadline) {
    while (made < rows.length && (!deadline || deadline.timeRemaining() > 1)) {
      keys[made] = norm(rows[made].textContent);
      made++;
    }
    if (made < rows.length && deadline) idle(makeKeys);
    else if (made === rows.length) list.setAttribute("data-ready", "");
  }
  var idle = window.requestIdleCallback || function (f) { setTimeout(function () { f({ timeRemaining: function () { return 8; } }); }, 0); };
  idle(makeKeys);
  function apply() {
    pending = false;
    makeKeys(null);
    var q = norm(box.value.trim()), n = 0, fragment = doc.createDocumentFragment();
    if (q !== "") {
      for (var r = 0; r < rows.length; r++) {
        if (keys[r].indexOf(q) === -1) continue;
        if (n < LIMIT) fragment.appendChild(rows[r].cloneNode(true));
        n++;
      }
    }
    results.textContent = "";
    results.appendChild(fragment);
    results.hidden = q === "";
    list.classList.toggle("filtered", q !== "");
    count.textContent = q === "" ? total + plural(total) : n + " of " + total + plural(total);
    none.hidden = q === "" || n !== 0;
    more.hidden = n <= LIMIT;
    more.textContent = "Showing the first " + LIMIT + " of " + n + " matches: type more to narrow them down.";
  }
  box.addEventListener("input", function () {
    if (!pending) { pending = true; requestAnimationFrame(apply); }
  });
  box.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") { box.value = ""; apply(); }
    else if (ev.key === "Enter" || ev.key === "ArrowDown") {
      if (pending) apply();
      var first = list.querySelector(results.hidden ? "ul.block a" : "ul.results a");
      if (!first) return;
      ev.preventDefault();
      if (ev.key === "Enter") location.href = first.href; else first.focus();
    }
  });
  doc.addEventListener("keydown", function (ev) {
    if (ev.key === "/" && doc.activeElement !== box && !/^(INPUT|TEXTAREA)$/.test(doc.activeElement.tagName)) {
      ev.preventDefault();
      box.focus();
    }
  });
  var q = new URLSearchParams(location.search).get("q");
  if (q) { box.value = q; apply(); }
})();
