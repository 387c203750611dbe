// Ankommen: progressive enhancement only; every page works without JavaScript.
// Buttons with data-confirm ask before an irreversible step (no inline scripts: CSP).
document.addEventListener("click", function (event) {
  const button = event.target.closest("[data-confirm]");
  if (button && !window.confirm(button.getAttribute("data-confirm"))) {
    event.preventDefault();
  }
});
// The print button of print views (hidden until this script can make it work).
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) { window.print(); }
});
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-print][hidden]").forEach(function (button) {
    button.hidden = false;
  });
});
// A table wider than the screen scrolls inside its wrapper: make the wrapper reachable by
// keyboard (WCAG 2.1.1) and name it after the table's caption, as long as it scrolls.
(function () {
  const wrappers = ".kern-table-responsive, .app-table-scroll";
  function label(wrapper) {
    const caption = wrapper.querySelector("caption");
    const table = wrapper.querySelector("table");
    if (caption && caption.textContent.trim()) { return caption.textContent.trim(); }
    return table ? table.getAttribute("aria-label") : null;
  }
  function update() {
    document.querySelectorAll(wrappers).forEach(function (wrapper) {
      const scrolls = wrapper.scrollWidth > wrapper.clientWidth + 1;
      if (scrolls && !wrapper.hasAttribute("tabindex")) {
        wrapper.setAttribute("tabindex", "0");
        wrapper.setAttribute("role", "region");
        const name = label(wrapper);
        if (name) { wrapper.setAttribute("aria-label", name); }
        wrapper.dataset.appScroll = "1";
      } else if (!scrolls && wrapper.dataset.appScroll) {
        ["tabindex", "role", "aria-label", "data-app-scroll"].forEach(function (name) {
          wrapper.removeAttribute(name);
        });
      }
    });
  }
  let pending = null;
  function later() { clearTimeout(pending); pending = setTimeout(update, 150); }
  document.addEventListener("DOMContentLoaded", update);
  window.addEventListener("resize", later);
  document.addEventListener("htmx:afterSettle", update);
})();
