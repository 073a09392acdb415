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

  /* The root's filter: PEP 503-normalized substring match on name and summary. Each keystroke
   * compares precomputed strings and touches only the rows whose visibility changes. */
  var box = doc.getElementById("filter");
  if (!box) return;
  var list = doc.getElementById("projects"), count = doc.getElementById("count");
  var none = doc.getElementById("nomatch"), rows = null, keys = null, shown = null;
  var total = Number(count.getAttribute("data-total"));
  function norm(s) { return s.toLowerCase().replace(/[-_.]+/g, "-"); }
  function plural(n) { return n === 1 ? " project" : " projects"; }
  function index() {
    rows = list.querySelectorAll("li[data-p]");
    keys = new Array(rows.length);
    shown = new Uint8Array(rows.length);
    for (var i = 0; i < rows.length; i++) { keys[i] = norm(rows[i].textContent); shown[i] = 1; }
  }
  var pending = false;
  function apply() {
    pending = false;
    if (!rows) index();
    var q = norm(box.value.trim()), n = 0;
    for (var i = 0; i < rows.length; i++) {
      var hit = q === "" || keys[i].indexOf(q) !== -1 ? 1 : 0;
      if (hit !== shown[i]) { shown[i] = hit; rows[i].hidden = !hit; }
      n += hit;
    }
    count.textContent = q === "" ? total + plural(total) : n + " of " + total + plural(total);
    none.hidden = n !== 0;
  }
  box.addEventListener("input", function () {
    if (!pending) { pending = true; requestAnimationFrame(apply); }
  });
  box.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") { box.value = ""; apply(); }
    else if (ev.key === "Enter" || ev.key === "ArrowDown") {
      if (pending) apply();
      var first = list.querySelector("li[data-p]:not([hidden]) a");
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
