// Passkey ceremonies (WebAuthn) for the pages that offer them; no framework, no inline script
// (the Content-Security-Policy allows scripts from /static/ only). The server sends the options
// as JSON with base64url binaries; the browser's answer goes back the same way, in a hidden
// field of an ordinary form that is then submitted, so errors are shown by the page itself.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  function toBytes(value) {
    var b64 = value.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var raw = atob(b64), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (c) {
      return {type: c.type, id: toBytes(c.id), transports: c.transports};
    });
  }

  function options(form, url) {
    var token = form.querySelector("input[name=csrf_token]");
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"X-CSRFToken": token ? token.value : "", "Accept": "application/json"}
    }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.error || "");
        return body;
      });
    });
  }

  function register(o) {
    o.challenge = toBytes(o.challenge);
    o.user.id = toBytes(o.user.id);
    o.excludeCredentials = descriptors(o.excludeCredentials);
    return navigator.credentials.create({publicKey: o}).then(function (c) {
      return {
        id: c.id, rawId: toBase64url(c.rawId), type: c.type,
        authenticatorAttachment: c.authenticatorAttachment || undefined,
        clientExtensionResults: c.getClientExtensionResults(),
        response: {
          clientDataJSON: toBase64url(c.response.clientDataJSON),
          attestationObject: toBase64url(c.response.attestationObject),
          transports: c.response.getTransports ? c.response.getTransports() : []
        }
      };
    });
  }

  function authenticate(o) {
    o.challenge = toBytes(o.challenge);
    o.allowCredentials = descriptors(o.allowCredentials);
    return navigator.credentials.get({publicKey: o}).then(function (c) {
      return {
        id: c.id, rawId: toBase64url(c.rawId), type: c.type,
        authenticatorAttachment: c.authenticatorAttachment || undefined,
        clientExtensionResults: c.getClientExtensionResults(),
        response: {
          clientDataJSON: toBase64url(c.response.clientDataJSON),
          authenticatorData: toBase64url(c.response.authenticatorData),
          signature: toBase64url(c.response.signature),
          userHandle: c.response.userHandle ? toBase64url(c.response.userHandle) : undefined
        }
      };
    });
  }

  function fail(form, button, error) {
    var out = form.querySelector(".passkey-error");
    if (out) {
      out.textContent = (error && error.message && error.name === "Error")
        ? error.message : button.getAttribute("data-failed");
      out.hidden = false;
    }
    button.disabled = false;
  }

  // <button data-passkey="register|authenticate" data-options="URL" data-field="credential"
  //  data-failed="text" hidden>: inside the form that carries the answer in a hidden field.
  document.querySelectorAll("button[data-passkey]").forEach(function (button) {
    button.hidden = false;
    var form = button.form;
    button.addEventListener("click", function (event) {
      event.preventDefault();
      var needed = form.querySelectorAll("[data-before-passkey]");
      for (var i = 0; i < needed.length; i++) {
        if (!needed[i].reportValidity()) return;
      }
      button.disabled = true;
      var ceremony = button.getAttribute("data-passkey") === "register" ? register : authenticate;
      options(form, button.getAttribute("data-options"))
        .then(ceremony)
        .then(function (answer) {
          form.querySelector("input[name=" + button.getAttribute("data-field") + "]").value =
            JSON.stringify(answer);
          form.noValidate = true;  // a code field left empty is not needed with a passkey
          form.submit();
        })
        .catch(function (error) { fail(form, button, error); });
    });
  });
  document.querySelectorAll("[data-no-passkeys]").forEach(function (el) { el.hidden = true; });
})();
