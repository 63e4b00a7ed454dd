// vipps-login-tower: progressive enhancement only. Every page works without it.
(function () {
  "use strict";
  // Format the phone number as it is typed; the server accepts any form Msisdn accepts.
  var phone = document.getElementById("phone");
  if (phone) {
    var groups = { "47": [3, 2, 3], "45": [2, 2, 2, 2], "358": [2, 3, 4] };
    var format = function (raw) {
      var plus = /^\s*(\+|00)/.test(raw);
      var digits = raw.replace(/\D/g, "");
      if (/^00/.test(raw.trim())) digits = digits.slice(2);
      if (!plus) return raw.replace(/[^\d\s+]/g, "");
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
})();
