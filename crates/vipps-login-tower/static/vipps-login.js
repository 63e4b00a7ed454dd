// vipps-login-tower: progressive enhancement only. Every page works without it.
(function () {
  "use strict";
  // Format the phone number as it is typed; the server accepts any form Msisdn accepts.
  var phone = document.getElementById("phone");
  if (phone) {
    var groups = { "47": [3, 2, 3], "45": [2, 2, 2, 2], "358": [2, 3, 4] };
    var format = function (raw) {
      // Anything but digits and separators stays as typed: the server says what is
      // wrong with it (a letter, something after the number) instead of never seeing it.
      if (/[^\d\s+().\-]/.test(raw)) return raw;
      var plus = /^\s*(\+|00)/.test(raw);
      var digits = raw.replace(/\D/g, "");
      if (/^00/.test(raw.trim())) digits = digits.slice(2);
      if (!plus) return raw;
      var cc = ["358", "47", "45"].find(function (c) { return digits.indexOf(c) === 0; });
      if (!cc) return "+" + digits;
      var rest = digits.slice(cc.length), out = "+" + cc, i = 0;
      groups[cc].forEach(function (n) { if (i < rest.length) { out += " " + rest.slice(i, i + n); i += n; } });
      if (i < rest.length) out += rest.slice(i);
      return out;
    };
    phone.addEventListener("input", function () {
      var atEnd = phone.selectionStart === phone.value.length;
      var next = format(phone.value);
      if (next !== phone.value && atEnd) phone.value = next;
    });
  }
  // Live status on the waiting page over server-sent events.
  var status = document.getElementById("status");
  if (status && status.dataset.events && window.EventSource) {
    var source = new EventSource(status.dataset.events);
    source.addEventListener("status", function (e) {
      var data = JSON.parse(e.data);
      status.dataset.status = data.status;
      status.textContent = data.message;
      if (data.next) { source.close(); window.location.assign(data.next); }
    });
    source.onerror = function () { /* the browser retries; the no-JS refresh link stays */ };
  }
  // A wait on a result page counts down; the button that sends the same request again
  // is held until zero. Without JavaScript the button is there from the start (the server
  // answers with what is left of the wait) and the page says when the count began.
  var countdown = document.getElementById("countdown");
  if (countdown) {
    var retry = document.getElementById("retry");
    var end = Date.now() + (Number(countdown.dataset.seconds) || 0) * 1000;
    var show = function (n) {
      return countdown.dataset.format === "clock" ? Math.floor(n / 60) + ":" + ("0" + (n % 60)).slice(-2) : String(n);
    };
    if (retry) retry.disabled = true;
    var timer = setInterval(function () {
      var left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
      countdown.textContent = show(left);
      countdown.dataset.left = String(left);
      if (left > 0) return;
      clearInterval(timer);
      if (countdown.dataset.done) countdown.parentNode.textContent = countdown.dataset.done;
      if (retry) retry.disabled = false;
    }, 250);
  }
})();
