// The console's only script: the verify badge and the tree's expand/collapse-all buttons.
// Every page works without it; nothing here builds HTML from data (textContent only).
"use strict";

(function () {
  function verifyBadge() {
    var badge = document.getElementById("verify-badge");
    if (!badge || !badge.dataset.src) {
      return;
    }
    badge.textContent = "Log: checking…";
    badge.className = "badge badge-unknown";
    fetch(badge.dataset.src, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (report) {
        var checkpoint = report.checkpoint || null;
        if (report.badge) {
          // The server names the checkpoint the log was checked against (or contradicts).
          badge.textContent = report.badge;
          badge.className = report.ok ? "badge badge-ok" : "badge badge-broken";
          badge.title = checkpoint ? checkpoint.summary : "";
        } else if (report.ok) {
          badge.textContent = "Log OK · " + report.events_checked + " events";
          badge.className = "badge badge-ok";
          badge.title = checkpoint ? checkpoint.summary : "";
        } else {
          var where = report.broken_position === null ? "" : " at position " + report.broken_position;
          badge.textContent = "Log broken" + where + (report.reason ? " (" + report.reason + ")" : "");
          badge.className = "badge badge-broken";
          badge.title = report.problem || "";
        }
        badge.dataset.state = report.ok ? "ok" : "broken";
      })
      .catch(function (error) {
        badge.textContent = "Log: not checked (" + error.message + ")";
        badge.className = "badge badge-unknown";
        badge.dataset.state = "error";
      });
  }

  function treeTools() {
    document.querySelectorAll("button[data-tree]").forEach(function (button) {
      button.addEventListener("click", function () {
        var open = button.dataset.tree === "expand";
        document.querySelectorAll("#tree details").forEach(function (node) {
          node.open = open;
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    verifyBadge();
    treeTools();
  });
})();
