// The install page: the server finished set-up, so tell the portal once that installation is done.
(function () {
  "use strict";
  var done = false;
  function show(id, text) {
    var el = document.getElementById(id);
    if (text) { el.textContent = text; }
    el.hidden = false;
  }
  function fail(message) {
    document.getElementById("install").dataset.state = "sdk-failed";
    show("install-error", message);
  }
  if (typeof window.B24Js === "undefined") {
    fail("The Bitrix24 frame library did not load.");
    return;
  }
  var watchdog = setTimeout(function () {
    fail("The portal did not answer the frame library.");
  }, 15000);
  window.B24Js.initializeB24Frame().then(function (b24) {
    clearTimeout(watchdog);
    if (done) { return; }
    done = true;
    return b24.installFinish().then(function () {
      document.getElementById("install").dataset.state = "finished";
      document.getElementById("install-status").hidden = true;
      show("install-done");
    });
  }).catch(function (error) {
    clearTimeout(watchdog);
    fail(String(error && error.message ? error.message : error));
  });
})();
