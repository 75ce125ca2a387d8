// Keeps an evaluation's progress bar current without reloading, and reloads once it finishes.
(function () {
  "use strict";
  var box = document.querySelector("[data-progress-url]");
  if (!box) { return; }
  var bar = document.getElementById("run-progress");
  var status = document.getElementById("run-status");
  function poll() {
    fetch(box.getAttribute("data-progress-url"), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (body) {
        if (body.status !== "queued" && body.status !== "running") { window.location.reload(); return; }
        if (typeof body.progress === "number") {
          bar.value = body.progress;
          bar.textContent = Math.round(body.progress * 100) + "%";
          status.textContent = "Running: " + Math.round(body.progress * 100) + "% of the data scanned.";
        }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
}());
