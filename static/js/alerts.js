// Rule form: show only the fields the chosen kind uses (every field still works without JS).
(function () {
  var form = document.getElementById("rule-form");
  if (!form) return;
  var kind = form.querySelector("select[name=kind]");
  function update() {
    form.querySelectorAll(".kind-when").forEach(function (el) {
      el.hidden = el.dataset.kinds.split(" ").indexOf(kind.value) < 0;
    });
  }
  kind.addEventListener("change", update);
  update();
})();
