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
    // The binding is looked up at each send: the node adds it again when its connection is
    // made anew. (A page that replaces or removes it only spoils its own recording.)
    if (typeof window[options.binding] !== "function") return;
    var rrweb = rrwebSource();
    var stringify = JSON.stringify;  // taken now, before the page's own scripts run
    var batch = [], batchBytes = 0, dropped = 0, timer = 0;
    // Messages made while the binding is away (the node is making its connection anew) wait,
    // within one batch's size; the oldest go first when more come.
    var waiting = [], waitingBytes = 0;
    var send = function () {
      if (timer) { clearTimeout(timer); timer = 0; }
      if (batch.length || dropped) {
        var message = '{"dropped":' + dropped + ',"events":[' + batch.join(",") + "]}";
        batch = []; batchBytes = 0; dropped = 0;
        waiting.push(message);
        waitingBytes += message.length;
        while (waitingBytes > options.maxBatchChars && waiting.length > 1) {
          waitingBytes -= waiting.shift().length;
          dropped += 1;
        }
      }
      while (waiting.length) {
        if (typeof window[options.binding] !== "function") {
          timer = setTimeout(send, options.flushMs);
          return;
        }
        try { window[options.binding](waiting[0]); } catch (e) { /* the binding went away */ }
        waitingBytes -= waiting.shift().length;
      }
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
