// The desk, progressively enhanced. Without JavaScript it links to the layer's login
// page and reloads itself. With it, the clerk starts the login here through the layer's
// JSON API, sees the code to read aloud, and follows the customer live: the server sends
// a change counter over server-sent events, and the desk then fetches what changed.
(function () {
  "use strict";
  var list = document.getElementById("handovers");
  var form = document.getElementById("desk-form");
  var card = document.getElementById("desk-login");
  if (!list || !form || !card || !window.fetch || !window.EventSource) return;
  var byId = function (id) { return document.getElementById(id); };
  var current = null;
  var timer = null;
  var live = null;
  var words = card.dataset;

  byId("start-login").hidden = true;
  form.hidden = false;

  function setStatus(status, message) {
    card.dataset.status = status;
    byId("desk-status").textContent = message;
  }

  function finish() {
    clearInterval(timer);
    if (live) { live.close(); live = null; }
    byId("desk-expires").textContent = "";
    byId("desk-cancel").hidden = true;
    byId("desk-again").hidden = false;
  }

  // A wait for the number typed (a cool-down after a decline or a missed push) counts
  // down in the sentence; the start button waits for zero, unless another number is typed.
  var waitTimer = null;
  var refused = null;
  function showError(body, retryAfter) {
    var error = byId("desk-error");
    var start = byId("desk-start");
    var message = body.message || words.error;
    var clock = /\d+:\d{2}/;
    var secs = Number(retryAfter) || 0;
    clearInterval(waitTimer);
    error.dataset.error = body.error || "error";
    error.hidden = false;
    if (!(secs > 0 && clock.test(message))) {
      error.textContent = message +
        (secs > 0 && !/\d/.test(message) ? " " + words.retryIn.replace("{seconds}", secs) : "");
      return;
    }
    var end = Date.now() + secs * 1000;
    refused = byId("desk-phone").value;
    start.disabled = true;
    var render = function () {
      var left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
      error.dataset.left = String(left);
      if (left > 0) {
        error.textContent = message.replace(clock, Math.floor(left / 60) + ":" + ("0" + (left % 60)).slice(-2));
        return;
      }
      clearInterval(waitTimer);
      error.textContent = words.waitOver;
      start.disabled = false;
    };
    render();
    waitTimer = setInterval(render, 250);
  }

  byId("desk-phone").addEventListener("input", function () {
    if (refused !== null) byId("desk-start").disabled = byId("desk-phone").value === refused && Number(byId("desk-error").dataset.left) > 0;
  });

  function tick() {
    if (!current || card.dataset.status !== "waiting") return;
    var left = Math.round(current.expiresAt - Date.now() / 1000);
    if (left <= 0) {
      setStatus("expired", words.expired);
      finish();
    } else {
      byId("desk-expires").textContent = words.expiresIn.replace("{seconds}", left);
    }
  }

  // The simulator hint leads to the phone of the number typed (not always Kari's).
  function simPhoneFor(typed) {
    var link = byId("sim-phone");
    if (!link || !link.dataset.base) return;
    var digits = typed.replace(/\D/g, "");
    if (/^\s*00/.test(typed)) digits = digits.slice(2);
    else if (!/^\s*\+/.test(typed) && digits.length === 8) digits = "47" + digits;
    link.href = link.dataset.base + digits;
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    clearInterval(waitTimer);
    refused = null;
    byId("desk-error").hidden = true;
    fetch(form.dataset.api, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Requested-With": "desk" },
      body: JSON.stringify({ phone: byId("desk-phone").value })
    }).then(function (res) {
      return res.json().then(function (body) {
        if (res.status !== 201) { showError(body, res.headers.get("Retry-After")); return; }
        current = { id: body.login_id, cancelUrl: body.cancel_url, expiresAt: body.expires_at };
        simPhoneFor(byId("desk-phone").value);
        byId("desk-code").textContent = body.binding_message || "";
        form.hidden = true;
        card.hidden = false;
        byId("desk-cancel").hidden = false;
        byId("desk-again").hidden = true;
        setStatus("waiting", words.waiting);
        tick();
        timer = setInterval(tick, 1000);
        follow(body.events_url, body.login_id);
      });
    }).catch(function () {
      showError({ error: "network", message: words.network });
    });
  });

  byId("desk-cancel").addEventListener("click", function () {
    if (!current) return;
    fetch(current.cancelUrl, {
      method: "POST", credentials: "same-origin", headers: { "X-Requested-With": "desk" }
    }).finally(function () { setStatus("cancelled", words.cancelled); finish(); });
  });

  byId("desk-again").addEventListener("click", function () {
    current = null;
    card.hidden = true;
    card.dataset.status = "idle";
    form.hidden = false;
    byId("desk-phone").value = "";
    byId("desk-phone").focus();
  });

  // The layer's live status of this login: a decline or an expiry shows at once, with
  // the layer's words (the phone has told the customer the same).
  function follow(url, id) {
    if (!url) return;
    live = new EventSource(url);
    live.addEventListener("status", function (e) {
      var s = JSON.parse(e.data);
      if (!current || current.id !== id || card.dataset.status !== "waiting") return;
      var ended = { denied: "declined", expired: "expired", cancelled: "cancelled", failed: "failed" }[s.status];
      if (ended) { setStatus(ended, s.message); finish(); }
    });
  }

  function refresh() {
    fetch(list.dataset.fragment, { credentials: "same-origin" })
      .then(function (res) { return res.text(); })
      .then(function (html) { list.innerHTML = html; });
    if (!current) return;
    var id = current.id;
    fetch("/desk/logins/" + encodeURIComponent(id), { credentials: "same-origin" })
      .then(function (res) { return res.json(); })
      .then(function (s) {
        if (!current || current.id !== id) return;
        if (s.status === "continued") {
          clearInterval(timer);
          if (live) { live.close(); live = null; }
          byId("desk-expires").textContent = "";
          setStatus("continued", words.continued.replace("{name}", s.name));
        } else if (s.status === "accepted") {
          setStatus("accepted", (s.marketing ? words.acceptedMarketing : words.acceptedNoMarketing).replace("{name}", s.name));
          finish();
        }
      });
  }

  var seen = Number(list.dataset.version);
  var source = new EventSource(list.dataset.events);
  source.addEventListener("changed", function (e) {
    var version = Number(e.data);
    if (version !== seen) { seen = version; refresh(); }
  });
})();
