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

  byId("start-login").hidden = true;
  form.hidden = false;

  function setStatus(status, message) {
    card.dataset.status = status;
    byId("desk-status").textContent = message;
  }

  function finish() {
    clearInterval(timer);
    byId("desk-expires").textContent = "";
    byId("desk-cancel").hidden = true;
    byId("desk-again").hidden = false;
  }

  function showError(body, retryAfter) {
    var error = byId("desk-error");
    error.dataset.error = body.error || "error";
    error.textContent = (body.message || "Something went wrong.") +
      (retryAfter ? " You can try again in " + retryAfter + " seconds." : "");
    error.hidden = false;
  }

  function tick() {
    if (!current || card.dataset.status !== "waiting") return;
    var left = Math.round(current.expiresAt - Date.now() / 1000);
    if (left <= 0) {
      setStatus("expired", "Nobody confirmed in time (or the customer declined). Start again.");
      finish();
    } else {
      byId("desk-expires").textContent = "The request expires in " + left + " s.";
    }
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
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
        byId("desk-code").textContent = body.binding_message || "";
        form.hidden = true;
        card.hidden = false;
        byId("desk-cancel").hidden = false;
        byId("desk-again").hidden = true;
        setStatus("waiting", "Waiting for the customer to confirm in Vipps…");
        tick();
        timer = setInterval(tick, 1000);
      });
    }).catch(function () {
      showError({ error: "network", message: "The desk could not reach the server." });
    });
  });

  byId("desk-cancel").addEventListener("click", function () {
    if (!current) return;
    fetch(current.cancelUrl, {
      method: "POST", credentials: "same-origin", headers: { "X-Requested-With": "desk" }
    }).finally(function () { setStatus("cancelled", "The login was cancelled."); finish(); });
  });

  byId("desk-again").addEventListener("click", function () {
    current = null;
    card.hidden = true;
    card.dataset.status = "idle";
    form.hidden = false;
    byId("desk-phone").value = "";
    byId("desk-phone").focus();
  });

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
          byId("desk-expires").textContent = "";
          setStatus("continued", s.name + " continued on the phone and is reading the terms…");
        } else if (s.status === "accepted") {
          setStatus("accepted", s.name + " accepted the terms" +
            (s.marketing ? " and wants marketing messages." : ", no marketing messages."));
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
