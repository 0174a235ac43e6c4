// OAuth 2.0 Form Post Response Mode: submit the response to the client as soon as the page loads.
// A file of its own because the Content-Security-Policy allows no inline script.
document.getElementById("oidc-response").submit();
