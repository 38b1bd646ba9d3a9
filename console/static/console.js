// The console's only script: refresh a polled region, and keep a form from being sent twice.
(function () {
  "use strict";
  function poll(region) {
    var url = region.getAttribute("data-poll");
    var every = parseInt(region.getAttribute("data-poll-ms") || "1000", 10);
    var last = region.innerHTML;
    function tick() {
      fetch(url, { headers: { "X-Console-Poll": "1" }, credentials: "same-origin", cache: "no-store" })
        .then(function (answer) {
          if (answer.redirected || answer.status === 401) { window.location.assign("/console/sign-in"); return null; }
          return answer.ok ? answer.text() : null;
        })
        .then(function (html) {
          if (html !== null && html !== last) { region.innerHTML = html; last = html; }
        })
        .catch(function () { /* the next tick tries again */ })
        .finally(function () { window.setTimeout(tick, every); });
    }
    window.setTimeout(tick, every);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-poll]").forEach(poll);
    document.querySelectorAll("form").forEach(function (form) {
      // A search form is sent again and again (pages, a CSV download that leaves the page): no guard.
      if (form.hasAttribute("data-repeatable")) { return; }
      form.addEventListener("submit", function (event) {
        if (form.dataset.sent === "1") { event.preventDefault(); return; }
        form.dataset.sent = "1";
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      });
    });
  });
})();
