/* The packing scan's outcome as a sound: the high beep when the dose went in, the low double
   buzz when it was refused. The words and colour on the page say the same. A page scanning in
   place keeps an empty, hidden panel for its answers: that one is silent. */
(function () {
  "use strict";
  var result = document.querySelector("[data-sound-src]:not([hidden])");
  if (!result) { return; }
  try {
    var playing = new Audio(result.dataset.soundSrc).play();
    if (playing && playing.catch) { playing.catch(function () {}); }
  } catch (e) { /* no audio: the page still says it */ }
}());
