/* Preferences: until a time zone is saved, preselect the browser's own (when the server knows it). */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form[data-zone-from-browser]");
    var select = form && form.querySelector("select[data-browser-zone]");
    if (!select) return;
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return; }
    if (zone && Array.prototype.some.call(select.options, function (o) { return o.value === zone; })) {
      select.value = zone;
    }
  });
})();
