/* The event viewer's small behaviours. Everything also works without this file: the filter
   form submits as a plain GET, rows have links, the panel link opens the full page. */
(function () {
  "use strict";

  // Back and forward load the URL afresh, so the filter form always matches the results
  // (htmx's history snapshots would restore the form as first rendered).
  if (window.htmx) {
    htmx.config.historyCacheSize = 0;
    htmx.config.refreshOnHistoryMiss = true;
  }

  function form() { return document.getElementById("viewer-form"); }
  function panel() { return document.getElementById("panel"); }

  // Ticking a box or choosing from a list applies at once; text fields apply on Enter.
  document.addEventListener("change", function (event) {
    var target = event.target;
    var f = form();
    if (!f || !f.contains(target)) return;
    if (target.matches("select, input[type=checkbox], input[type=radio]")) {
      // A range chosen from the menu replaces From/To (which would otherwise win over it).
      if (target.name === "range") {
        f.querySelectorAll("[name=start_date], [name=end_date]").forEach(function (input) { input.value = ""; });
      }
      f.requestSubmit();
    }
  });

  // Keep shared URLs short: leave empty fields out of the request (and so of the pushed URL).
  document.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.elt !== form()) return;
    var data = event.detail.formData;
    if (!data) return;
    // The columns and the order go into the URL only when they differ from what is shown.
    var f = form();
    var cols = data.getAll("cols").join(",");
    data.delete("cols");
    if (cols !== (f.dataset.cols || "")) {
      data.append("cols", cols);
      f.dataset.cols = cols;
    }
    if (data.get("sort") === "newest") data.delete("sort");
    var entries = Array.from(data.entries());
    Array.from(new Set(entries.map(function (e) { return e[0]; }))).forEach(function (key) { data.delete(key); });
    entries.forEach(function (e) { if (e[1] !== "") data.append(e[0], e[1]); });
  });

  function closePanel() {
    var p = panel();
    if (p) p.innerHTML = "";
    document.querySelectorAll("tr.is-selected").forEach(function (row) { row.classList.remove("is-selected"); });
  }

  function select(row) {
    document.querySelectorAll("tr.is-selected").forEach(function (r) { r.classList.remove("is-selected"); });
    if (row) row.classList.add("is-selected");
  }

  // A click anywhere on a row opens its event in the panel (through the row's own link).
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-close-panel]")) {
      closePanel();
      return;
    }
    var row = event.target.closest("tr.event-row");
    if (!row) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
    select(row);
    if (event.target.closest("a")) return;
    var link = row.querySelector("a.rowlink");
    if (link) link.click();
  });

  // Escape closes the panel; j and k move between rows while it is open.
  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select") return;
    if (event.key === "Escape") { closePanel(); return; }
    if (event.key === "/" && form()) {
      event.preventDefault();
      form().querySelector("input[name=q]").focus();
      return;
    }
    // j and k move between the result rows (from the first one when none is selected); with the
    // panel open, the panel follows. Enter on a row's time link opens it.
    if ((event.key === "j" || event.key === "k") && !event.metaKey && !event.ctrlKey && !event.altKey) {
      var rows = document.querySelectorAll("tr.event-row");
      if (!rows.length) return;
      var current = document.querySelector("tr.is-selected");
      var next = current ? (event.key === "j" ? current.nextElementSibling : current.previousElementSibling) : rows[0];
      if (!next) return;
      event.preventDefault();
      select(next);
      var link = next.querySelector("a.rowlink");
      if (link) {
        link.focus({preventScroll: true});
        if (panel() && panel().innerHTML.trim()) link.click();
      }
      next.scrollIntoView({block: "nearest"});
    }
  });

  // New results: the panel's event may no longer be listed; keep it open but unselected.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "panel") {
      var id = panel().querySelector("[data-event]");
      if (id) {
        document.querySelectorAll("tr.event-row").forEach(function (row) {
          row.classList.toggle("is-selected", row.dataset.event === id.dataset.event);
        });
      }
    }
  });
})();
