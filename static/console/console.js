// Console enhancements. Every page works without this file: it only adds
// local times, live-update controls, copy buttons and state kept across swaps.
(function () {
  "use strict";

  function localTimes(root) {
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) {
        el.textContent = when.toLocaleString(undefined, {
          year: "numeric", month: "short", day: "numeric",
          hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
        });
      }
    });
  }

  // Polling skips hidden tabs, and the live instance page also skips while the
  // user has paused it. (Done here, not as hx-trigger filters: those need eval,
  // which the Content-Security-Policy forbids.)
  document.addEventListener("htmx:beforeRequest", function (event) {
    var poll = event.detail.elt && event.detail.elt.dataset && event.detail.elt.dataset.poll;
    if (!poll) { return; }
    var trigger = event.detail.requestConfig && event.detail.requestConfig.triggeringEvent;
    if (trigger && trigger.type !== "hx:poll:trigger") { return; }
    if (document.visibilityState !== "visible" || (poll === "live" && window.livePaused)) {
      event.preventDefault();
    }
  });

  // Live regions swapped by polling keep the user's open rows and focus.
  var openDetails = [];
  var focusedId = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    openDetails = Array.prototype.map.call(
      target.querySelectorAll("details[open][id]"), function (d) { return d.id; });
    var active = document.activeElement;
    focusedId = active && target.contains(active) && active.id ? active.id : null;
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    openDetails.forEach(function (id) {
      var d = document.getElementById(id);
      if (d) { d.open = true; }
    });
    if (focusedId) {
      var el = document.getElementById(focusedId);
      if (el) { el.focus({ preventScroll: true }); }
    }
    localTimes(document);
    var live = document.getElementById("live");
    var announcer = document.getElementById("announcer");
    if (live && announcer && live.dataset.status !== announcer.dataset.lastStatus) {
      if (announcer.dataset.lastStatus) {
        announcer.textContent = "Instance is now " + live.dataset.status;
      }
      announcer.dataset.lastStatus = live.dataset.status;
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    if (window.htmx) { htmx.config.defaultFocusScroll = false; }
    localTimes(document);
    var live = document.getElementById("live");
    var announcer = document.getElementById("announcer");
    if (live && announcer) { announcer.dataset.lastStatus = live.dataset.status; }

    var toggle = document.querySelector("[data-live-toggle]");
    if (toggle) {
      toggle.addEventListener("change", function () { window.livePaused = toggle.checked; });
    }
    var switcher = document.querySelector("[data-account-switcher] select");
    if (switcher) {
      switcher.addEventListener("change", function () { window.location = switcher.value; });
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.copy");
    if (!button) { return; }
    var source = document.querySelector(button.dataset.copy);
    if (source && navigator.clipboard) {
      navigator.clipboard.writeText(source.textContent).then(function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy"; }, 1500);
      });
    }
  });
})();
