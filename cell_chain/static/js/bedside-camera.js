/* The tablet camera as a barcode scanner: the vendored zxing-wasm reads Data Matrix, Code 128
   and QR codes from the live video, one frame at a time, and the tracks stop after the first
   good read. The decoder is loaded only when the camera is opened, from cell-chain itself
   (never a CDN). Exposes window.BedsideCamera = {supported, open}. */
(function () {
  "use strict";

  var FORMATS = ["DataMatrix", "Code128", "QRCode"];
  var modulePromise = null;

  function supported() {
    return Boolean(window.isSecureContext && navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      if (window.ZXingWASM) { resolve(); return; }
      var script = document.createElement("script");
      script.src = src;
      script.onload = function () { resolve(); };
      script.onerror = function () { reject(new Error("The barcode reader did not load.")); };
      document.head.appendChild(script);
    });
  }

  function prepare(scriptUrl, wasmUrl) {
    if (!modulePromise) {
      modulePromise = loadScript(scriptUrl).then(function () {
        // The module's default locateFile points at a public CDN: load our copy instead.
        return window.ZXingWASM.prepareZXingModule({
          overrides: {
            locateFile: function (path, prefix) {
              return path.endsWith(".wasm") ? new URL(wasmUrl, document.baseURI).href : prefix + path;
            }
          },
          fireImmediately: true
        });
      });
      modulePromise.catch(function () { modulePromise = null; });
    }
    return modulePromise;
  }

  function describe(error) {
    var name = error && error.name;
    if (name === "NotAllowedError" || name === "SecurityError") {
      return "The camera is not allowed. Allow the camera for this site in the browser, or use the handheld scanner.";
    }
    if (name === "NotFoundError" || name === "OverconstrainedError") {
      return "No camera was found on this device. Use the handheld scanner.";
    }
    if (name === "NotReadableError") {
      return "The camera is busy in another app. Close it, or use the handheld scanner.";
    }
    return (error && error.message) || "The camera could not be started. Use the handheld scanner.";
  }

  /* Open the camera into `options.video`; calls onReady() once the video shows,
     onResult(text, format) once, or onError(message). Returns {stop}. */
  function open(options) {
    var video = options.video;
    var stream = null;
    var stopped = false;
    var canvas = document.createElement("canvas");
    var context = canvas.getContext("2d", { willReadFrequently: true });

    function stop() {
      stopped = true;
      if (stream) { stream.getTracks().forEach(function (track) { track.stop(); }); }
      stream = null;
      video.pause();
      video.srcObject = null;
    }

    function fail(error) {
      if (stopped) { return; }
      stop();
      options.onError(describe(error));
    }

    function next() {
      if (stopped) { return; }
      if (video.requestVideoFrameCallback) { video.requestVideoFrameCallback(read); }
      else { window.setTimeout(read, 60); }
    }

    function read() {
      if (stopped) { return; }
      var width = video.videoWidth, height = video.videoHeight;
      if (!width || !height) { next(); return; }
      canvas.width = width;
      canvas.height = height;
      context.drawImage(video, 0, 0, width, height);
      var image = context.getImageData(0, 0, width, height);
      window.ZXingWASM.readBarcodes(image, {
        formats: FORMATS, tryHarder: true, maxNumberOfSymbols: 1, textMode: "Plain"
      }).then(function (results) {
        if (stopped) { return; }
        var hit = results.find(function (r) { return r.isValid && r.text; });
        if (!hit) { next(); return; }
        stop();
        options.onResult(hit.text, hit.format);
      }, fail);
    }

    var decoder = prepare(options.scriptUrl, options.wasmUrl);
    navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } }
    }).then(function (media) {
      if (stopped) { media.getTracks().forEach(function (track) { track.stop(); }); return null; }
      stream = media;
      video.srcObject = media;
      return video.play();
    }).then(function () {
      if (!stopped && options.onReady) { options.onReady(); }
      return decoder;
    }).then(function () {
      if (!stopped) { next(); }
    }).catch(fail);

    return { stop: stop };
  }

  window.BedsideCamera = { supported: supported, open: open, prepare: prepare };
}());
