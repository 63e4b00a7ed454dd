// The desk follows changes live: the server sends the change counter over server-sent
// events, and the page reloads when it is newer than the one it was rendered with.
(function () {
  "use strict";
  var list = document.getElementById("handovers");
  if (!list || !window.EventSource) return;
  var seen = Number(list.dataset.version);
  var source = new EventSource(list.dataset.events);
  source.addEventListener("changed", function (e) {
    if (Number(e.data) !== seen) { source.close(); window.location.reload(); }
  });
})();
