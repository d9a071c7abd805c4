// A classic (blocking) script so the saved theme applies before the first paint: no light flash in dark mode.
(function () {
  try {
    var saved = localStorage.getItem("amqpd.theme");
    if (saved === "dark" || saved === "light") document.documentElement.dataset.theme = saved;
  } catch (e) { /* storage refused (private mode): follow the system */ }
})();
