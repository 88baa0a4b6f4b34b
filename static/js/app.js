// Small enhancements on top of pages that work without JavaScript. No inline scripts: the
// Content-Security-Policy allows scripts from /static/ only.
(function () {
  "use strict";

  // Registration: tell whether the company name is free while it is typed.
  var input = document.querySelector("input[data-check]");
  if (input) {
    var out = document.getElementById(input.getAttribute("aria-describedby")), timer;
    var check = function () {
      var name = input.value;
      if (!name) { out.textContent = ""; return; }
      fetch(input.dataset.check + "?name=" + encodeURIComponent(name), {headers: {"Accept": "application/json"}})
        .then(function (r) { return r.json(); })
        .then(function (answer) {
          if (input.value !== name) return;
          out.textContent = answer.message;
          out.className = answer.available ? "hint" : "hint inline-error";
        })
        .catch(function () { out.textContent = ""; });
    };
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(check, 300); });
  }

  // Copy buttons: <button data-copy="element-id" data-copied="Copied" hidden>, shown only where
  // the clipboard can be written (without it the text is still selectable, all at once).
  if (navigator.clipboard) {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var text = document.getElementById(button.getAttribute("data-copy")).textContent;
        navigator.clipboard.writeText(text).then(function () {
          button.textContent = button.getAttribute("data-copied");
        });
      });
    });
  }

  // File pickers (the account's photo): the name of the file chosen, next to our own button.
  document.querySelectorAll("input.file-input").forEach(function (picker) {
    var name = picker.parentNode.querySelector("[data-file-name]");
    if (!name) return;
    var chosen = name.textContent;
    picker.addEventListener("change", function () {
      name.textContent = picker.files && picker.files.length ? picker.files[0].name : chosen;
    });
  });

  // Buttons that ask before they act: <button data-confirm="Are you sure?">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
  });
})();

// Filter forms marked data-live: submit as the owner types (after a pause), keeping the caret.
(function () {
  "use strict";
  var form = document.querySelector("form[data-live]");
  if (!form) return;
  var timer;
  form.addEventListener("input", function (event) {
    if (event.target.type !== "search") return;
    clearTimeout(timer);
    timer = setTimeout(function () { form.requestSubmit ? form.requestSubmit() : form.submit(); }, 400);
  });
  form.addEventListener("change", function (event) {
    if (event.target.tagName === "SELECT") form.requestSubmit ? form.requestSubmit() : form.submit();
  });
  var search = form.querySelector("input[type=search]");
  if (search && search.value && document.activeElement === document.body) {
    search.focus();
    search.setSelectionRange(search.value.length, search.value.length);
  }
})();

// The owner console's sections on a phone: one row that scrolls sideways (app.css). Bring the
// current section into sight, and drop the fade at the row's end once it is reached.
(function () {
  "use strict";
  var nav = document.querySelector("nav.console-nav");
  if (!nav) return;
  var current = nav.querySelector("[aria-current=page]");
  if (current && nav.scrollWidth > nav.clientWidth) {
    var box = nav.getBoundingClientRect(), pill = current.getBoundingClientRect();
    nav.scrollLeft += pill.left - box.left - (box.width - pill.width) / 2;
  }
  var edge = function () {
    nav.classList.toggle("at-end", nav.scrollLeft + nav.clientWidth >= nav.scrollWidth - 2);
  };
  nav.addEventListener("scroll", edge, {passive: true});
  edge();
})();
