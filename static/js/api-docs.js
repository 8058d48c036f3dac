// Starts the vendored Swagger UI on /docs (a static file: the Content-Security-Policy allows no inline script).
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    dom_id: "#swagger-ui",
    validatorUrl: null, // the default validator badge calls a public service: nothing leaves this server
    deepLinking: true,
  });
})();
