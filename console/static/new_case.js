// The new case form: the triage suggestion follows the form as the agent types (a short pause
// after the last key), from the console's preview, which opens nothing.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("new-case");
    var target = document.getElementById("suggestion-body");
    if (!form || !target) { return; }
    var timer = null;
    var asked = 0;
    function ask() {
      var mine = ++asked;
      fetch(form.getAttribute("data-preview"), {
        method: "POST", body: new FormData(form), credentials: "same-origin", cache: "no-store"
      })
        .then(function (answer) { return answer.ok ? answer.text() : null; })
        .then(function (html) { if (html !== null && mine === asked) { target.innerHTML = html; } })
        .catch(function () { /* the next keystroke asks again */ });
    }
    function later() { window.clearTimeout(timer); timer = window.setTimeout(ask, 250); }
    form.addEventListener("input", later);
    form.addEventListener("change", later);
  });
})();
