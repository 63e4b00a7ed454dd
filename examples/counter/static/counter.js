// The desk, progressively enhanced: "Member since" in the desk's own time zone and
// language (the server writes the date in UTC, which stays when scripts are off).
(function () {
  "use strict";
  var since = document.getElementById("member-since");
  if (!since || !window.Intl) return;
  var when = new Date(since.getAttribute("datetime"));
  if (isNaN(when.getTime())) return;
  since.textContent = when.toLocaleString(document.documentElement.lang || undefined, {
    dateStyle: "long",
    timeStyle: "short",
  });
  since.dataset.local = "true";
})();
