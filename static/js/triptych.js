// Triptych's page behaviour, as a static file: the Content-Security-Policy allows no inline script.
(function () {
  "use strict";
  var flash = document.getElementById("flash");
  function show(message) {
    if (!flash) return;
    flash.textContent = message;
    flash.hidden = false;
  }

  // A 5xx or a dropped connection swaps nothing: say so instead of failing silently.
  document.addEventListener("htmx:responseError", function (e) {
    if (e.detail.xhr.status >= 500) show("The server failed (" + e.detail.xhr.status + "). Try again; if it persists, check the server log.");
  });
  document.addEventListener("htmx:sendError", function () { show("Cannot reach the Triptych server. Is it still running?"); });
  document.addEventListener("htmx:afterRequest", function (e) {
    if (e.detail.successful && flash && !flash.hidden) flash.hidden = true;
  });

  // <form data-confirm="Delete ...?">: ask before a destructive post.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      e.preventDefault();
      e.stopImmediatePropagation();
    }
  }, true);

  document.addEventListener("click", function (e) {
    var target = e.target;
    if (!(target instanceof Element)) return;
    // <button data-fill="#query">text</button>: put its text into that field.
    var chip = target.closest("[data-fill]");
    if (chip) {
      var field = document.querySelector(chip.getAttribute("data-fill"));
      if (field) { field.value = chip.textContent; field.focus(); }
      return;
    }
    // <input data-select-on-click>: one click selects a token or link to copy.
    if (target.hasAttribute("data-select-on-click") && typeof target.select === "function") target.select();
  });

  // <select data-submit-on-change>: choosing an option saves it (the form has a Save button without script).
  document.addEventListener("change", function (e) {
    var target = e.target;
    if (target instanceof Element && target.hasAttribute("data-submit-on-change") && target.form) target.form.requestSubmit();
  });

  // <form data-submit-on-ctrl-enter="#query">: Ctrl/Cmd+Enter in that field sends the form.
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Enter" || !(e.ctrlKey || e.metaKey) || !(e.target instanceof Element)) return;
    var form = e.target.closest("form[data-submit-on-ctrl-enter]");
    if (form && e.target.matches(form.getAttribute("data-submit-on-ctrl-enter"))) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
})();
