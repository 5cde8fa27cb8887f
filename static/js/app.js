// Staff screens: small progressive enhancements. No inline scripts anywhere, so a strict
// Content-Security-Policy stays possible.
document.addEventListener("htmx:responseError", (event) => {
  const status = event.detail.xhr.status;
  window.alert(status >= 500 ? "Something went wrong on our side; it has been logged." : "That did not work: " + status);
});
