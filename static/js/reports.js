// Reports form: show the framework field for compliance reports and the person for user
// activity; everything else is server-rendered. (No inline script: the CSP forbids it.)
(function () {
  function sync(form) {
    var type = form.querySelector("[name=report_type]");
    if (!type) return;
    form.querySelectorAll("[data-when-type]").forEach(function (box) {
      box.hidden = box.getAttribute("data-when-type") !== type.value;
    });
    var period = form.querySelector("[name=period]");
    form.querySelectorAll("[data-when-period]").forEach(function (box) {
      var typed = Array.prototype.some.call(box.querySelectorAll("input"), function (i) { return i.value; });
      box.hidden = !!period && period.value !== box.getAttribute("data-when-period") && !typed;
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.name === "report_type" || event.target.name === "period") sync(event.target.form);
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form").forEach(sync);
  });
})();
