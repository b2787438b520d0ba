// Starts rrweb in a recorded session's page and hands its events to the node in batches.
// node/dom_recording.py wraps this as `(function (rrwebSource, options) {...})(...)`, where
// rrwebSource is a function holding rrweb's own UMD build (read from node/js/node_modules) and
// options come from the node. It runs in the page's main world (rrweb needs the DOM), so it
// must never throw into the page or slow it: everything is caught, sends are batched.
(function (rrwebSource, options) {
  "use strict";
  try {
    // rrweb records same-origin iframes from the top document; a recorder per frame would
    // record them twice.
    if (window !== window.top || window[options.flag]) return;
    Object.defineProperty(window, options.flag, {value: true, enumerable: false});
    var binding = window[options.binding];  // taken now, before the page can replace it
    if (typeof binding !== "function") return;
    var rrweb = rrwebSource();
    var stringify = JSON.stringify;  // likewise
    var batch = [], batchBytes = 0, dropped = 0, timer = 0;
    var send = function () {
      if (timer) { clearTimeout(timer); timer = 0; }
      if (!batch.length && !dropped) return;
      var payload = "[" + batch.join(",") + "]";
      var message = '{"dropped":' + dropped + ',"events":' + payload + "}";
      batch = []; batchBytes = 0; dropped = 0;
      try { binding(message); } catch (e) { /* the page took the binding away */ }
    };
    var emit = function (event) {
      var text;
      try { text = stringify(event); } catch (e) { dropped += 1; return; }
      if (text.length > options.maxBatchChars) { dropped += 1; return; }  // the node would drop it
      if (batchBytes + text.length > options.maxBatchChars) send();
      batch.push(text);
      batchBytes += text.length + 1;
      if (batch.length >= options.maxBatchEvents) send();
      else if (!timer) timer = setTimeout(send, options.flushMs);
    };
    Object.defineProperty(window, options.flag + "Flush", {value: send, enumerable: false});
    rrweb.record({
      emit: emit,
      maskAllInputs: !!options.maskAllInputs,
      maskInputOptions: {password: true},
      recordCanvas: false,
      collectFonts: false,
      inlineImages: false,
      errorHandler: function () { return true; },  // rrweb's own errors stay out of the page
    });
    window.addEventListener("pagehide", send, true);
  } catch (e) {
    // Recording is best effort: a page it cannot record must still work.
  }
})
