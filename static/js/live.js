// The live view: reads the server-sent event stream and puts each event at the top.
// Event fields are attacker-controlled: they only ever reach the page through textContent.
(function () {
  "use strict";

  var MAX_ROWS = 500;
  var RATE_WINDOW_MS = 10000;

  function start() {
    var body = document.getElementById("live-rows");
    if (!body || !body.dataset.stream) return;
    var state = document.getElementById("live-state");
    var rate = document.getElementById("live-rate");
    var ingestRate = document.getElementById("live-ingest-rate");
    var pauseButton = document.getElementById("live-pause");
    var clearButton = document.getElementById("live-clear");
    var pending = document.getElementById("live-pending");
    var count = document.getElementById("live-count");
    var empty = document.getElementById("live-empty");

    var paused = false;
    var held = [];          // events that arrived while paused, oldest first
    var seen = {};          // seq → true, so a resumed stream never shows an event twice
    var arrivals = [];      // times of shown events, for the rate
    var heads = [];         // [time, head seq], for the stored rate

    function setState(name, text) {
      state.dataset.state = name;
      state.textContent = text;
    }

    function cell(row, text, className) {
      var td = document.createElement("td");
      if (className) td.className = className;
      td.textContent = text;
      row.appendChild(td);
      return td;
    }

    function badge(row, kind, value) {
      var td = document.createElement("td");
      var span = document.createElement("span");
      span.className = "badge " + kind + "-" + String(value).replace(/[^a-z]/g, "");
      span.textContent = value;
      td.appendChild(span);
      row.appendChild(td);
    }

    function render(event) {
      var row = document.createElement("tr");
      row.className = "live-row live-sev-" + String(event.severity).replace(/[^a-z]/g, "");
      row.dataset.seq = event.seq;
      row.dataset.url = event.url;
      row.tabIndex = 0;
      cell(row, event.occurred_at.replace("T", " ").replace("Z", "").slice(0, 19), "mono nowrap");
      badge(row, "sev", event.severity);
      var action = document.createElement("td");
      var link = document.createElement("a");
      link.href = event.url;
      link.className = "mono";
      link.textContent = event.action;
      action.appendChild(link);
      row.appendChild(action);
      badge(row, "outcome", event.outcome);
      cell(row, event.actor, "");
      cell(row, event.resource, "");
      cell(row, event.ip, "mono");
      cell(row, event.description, "live-desc");
      return row;
    }

    function show(events) {
      if (!events.length) return;
      var fragment = document.createDocumentFragment();
      // Newest at the top: the last of the batch goes first.
      for (var i = events.length - 1; i >= 0; i--) {
        var row = render(events[i]);
        row.classList.add("live-new");
        fragment.appendChild(row);
      }
      body.insertBefore(fragment, body.firstChild);
      while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
      empty.hidden = body.rows.length > 0;
      count.textContent = body.rows.length;
    }

    function updatePending() {
      pending.hidden = !paused;
      pending.textContent = held.length + (held.length === 1 ? " new event" : " new events") + " while paused";
    }

    function tick() {
      var now = Date.now();
      while (arrivals.length && now - arrivals[0] > RATE_WINDOW_MS) arrivals.shift();
      rate.textContent = (arrivals.length / (RATE_WINDOW_MS / 1000)).toFixed(1);
      while (heads.length > 1 && now - heads[0][0] > RATE_WINDOW_MS) heads.shift();
      if (heads.length > 1) {
        var first = heads[0], last = heads[heads.length - 1];
        var seconds = Math.max((now - first[0]) / 1000, 1);
        ingestRate.textContent = ((last[1] - first[1]) / seconds).toFixed(1);
      }
    }
    setInterval(tick, 1000);

    var batch = [];
    var flushScheduled = false;
    function flush() {
      flushScheduled = false;
      var events = batch;
      batch = [];
      if (paused) {
        Array.prototype.push.apply(held, events);
        updatePending();
      } else {
        show(events);
      }
    }

    var source = new EventSource(body.dataset.stream);
    var caughtUp = false;
    source.onopen = function () { if (!paused) setState("live", "Live"); };
    source.onerror = function () {
      // EventSource reconnects by itself, sending the last id it saw (Last-Event-ID).
      setState("reconnecting", "Reconnecting…");
    };
    source.onmessage = function (message) {
      var event = JSON.parse(message.data);
      if (seen[event.seq]) return;
      seen[event.seq] = true;
      // The backlog shown on opening (before the first head) is not an arrival rate.
      if (caughtUp) arrivals.push(Date.now());
      batch.push(event);
      if (!flushScheduled) {
        flushScheduled = true;
        window.requestAnimationFrame(flush);
      }
    };
    source.addEventListener("head", function (message) {
      var data = JSON.parse(message.data);
      heads.push([Date.now(), data.head]);
      caughtUp = true;
      if (!paused) setState("live", "Live");
    });

    pauseButton.addEventListener("click", function () {
      paused = !paused;
      pauseButton.setAttribute("aria-pressed", paused ? "true" : "false");
      pauseButton.textContent = paused ? "Resume" : "Pause";
      // The stream keeps running while paused (new events are held), but nothing on screen is live.
      if (paused) setState("paused", "Paused"); else setState("live", "Live");
      if (!paused) {
        show(held);
        held = [];
      }
      updatePending();
    });

    clearButton.addEventListener("click", function () {
      while (body.rows.length) body.deleteRow(0);
      count.textContent = "0";
      empty.hidden = false;
    });

    body.addEventListener("click", function (click) {
      if (click.target.closest("a")) return;
      var row = click.target.closest("tr");
      if (row && row.dataset.url) window.location.href = row.dataset.url;
    });
    body.addEventListener("keydown", function (key) {
      var row = key.target.closest("tr");
      if (key.key === "Enter" && row && row.dataset.url) window.location.href = row.dataset.url;
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
