/* The viewer's histogram: drag across the bars to narrow the time range to those whole bars. Without this file each
   bar is still a link to its own bucket. The chosen span goes into the filter bar's From and To
   (the range menu is cleared: From/To replace it) and the form is submitted, so the results and
   the URL (hx-push-url) follow, exactly as if the dates had been typed. */
(function () {
  "use strict";

  var drag = null;

  function chart(target) { return target && target.closest ? target.closest("svg.histogram-chart") : null; }

  // The x of a pointer event in the chart's own coordinates (its viewBox is 1000 wide).
  function xOf(svg, event) {
    var box = svg.getBoundingClientRect();
    var width = svg.viewBox.baseVal.width || 1000;
    return Math.max(0, Math.min(width, (event.clientX - box.left) * width / box.width));
  }

  function timeAt(svg, x) {
    var start = Date.parse(svg.dataset.start), end = Date.parse(svg.dataset.end);
    return new Date(start + (end - start) * x / (svg.viewBox.baseVal.width || 1000));
  }

  // To the second, as the filter bar reads it; a timestamp covers its whole second.
  function iso(date) { return date.toISOString().replace(/\.\d{3}Z$/, "Z"); }

  function mark(svg, from, to) {
    var sel = svg.querySelector("rect.hsel");
    if (!sel) return;
    sel.setAttribute("x", Math.min(from, to).toFixed(1));
    sel.setAttribute("width", Math.abs(to - from).toFixed(1));
  }

  document.addEventListener("pointerdown", function (event) {
    var svg = chart(event.target);
    if (!svg || event.button !== 0) return;
    drag = {svg: svg, from: xOf(svg, event), to: xOf(svg, event), moved: false};
    event.preventDefault();
  });

  document.addEventListener("pointermove", function (event) {
    if (!drag) return;
    drag.to = xOf(drag.svg, event);
    if (Math.abs(drag.to - drag.from) > 4) drag.moved = true;
    if (drag.moved) mark(drag.svg, drag.from, drag.to);
  });

  document.addEventListener("pointerup", function () {
    if (!drag) return;
    var d = drag;
    drag = null;
    if (!d.moved) return;  // a click: the bar's own link narrows to its bucket
    d.svg.dataset.dragged = "1";
    // Whole bars: from the start of the bar the drag began on to the end of the one it ended on.
    var bars = d.svg.querySelectorAll("a.hbar");
    var width = (d.svg.viewBox.baseVal.width || 1000) / Math.max(bars.length, 1);
    var first = bars[Math.min(bars.length - 1, Math.floor(Math.min(d.from, d.to) / width))];
    var last = bars[Math.min(bars.length - 1, Math.floor(Math.max(d.from, d.to) / width))];
    var low = first ? new Date(Date.parse(first.dataset.start)) : timeAt(d.svg, Math.min(d.from, d.to));
    var high = last ? new Date(Date.parse(last.dataset.end)) : timeAt(d.svg, Math.max(d.from, d.to));
    var form = document.getElementById("viewer-form");
    if (!form) return;
    form.querySelector("[name=start_date]").value = iso(low);
    form.querySelector("[name=end_date]").value = iso(new Date(high.getTime() - 1000));
    var range = form.querySelector("[name=range]");
    if (range) range.value = "";
    form.requestSubmit();
  });

  // A drag ends with a click on the bar under the pointer: that click must not follow the link.
  document.addEventListener("click", function (event) {
    var svg = chart(event.target);
    if (svg && svg.dataset.dragged === "1") { event.preventDefault(); svg.dataset.dragged = ""; }
  }, true);
})();
