/* Console-wide behaviour: menus built on <details> close on a click elsewhere or on Escape. */
(function () {
  "use strict";
  function closeMenus(except) {
    document.querySelectorAll("details.menu[open], details.account[open]").forEach(function (d) {
      if (d !== except) d.removeAttribute("open");
    });
  }
  document.addEventListener("click", function (event) {
    closeMenus(event.target.closest("details.menu, details.account"));
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") closeMenus(null);
  });
})();
