// Ankommen: progressive enhancement only; every page works without JavaScript.
// Buttons with data-confirm ask before an irreversible step (no inline scripts: CSP).
document.addEventListener("click", function (event) {
  const button = event.target.closest("[data-confirm]");
  if (button && !window.confirm(button.getAttribute("data-confirm"))) {
    event.preventDefault();
  }
});
// The print button of print views.
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) { window.print(); }
});
