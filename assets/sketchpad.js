// The Draw tab's writing surface (run by gr.HTML's js_on_load: `element`, `trigger`, `props`).
//
// It records the pen, not only the pixels: each stroke is a list of [x, y, t] points (CSS
// pixels from the canvas's top-left corner, milliseconds). The server renders them the way
// the model's training lines are rendered, so the pen size chosen here is only for the eye.
//
// props.value always holds the current drawing as JSON, {"seq", "pen", "strokes"}; "seq"
// grows with every change. With "Recognise as I draw" on, a read is asked for (the
// component's `submit` event) once the pen has rested DEBOUNCE_MS; the server answers with
// the seq it read (the #draw-ack component), so the pad knows when its latest drawing is read.
(() => {
  const DEBOUNCE_MS = 350;
  const GIVE_UP_MS = 60000;
  const INK = "#111827";
  const root = element.querySelector(".htr-pad");
  const canvas = element.querySelector("canvas");
  const ctx = canvas.getContext("2d");
  const state = element.querySelector(".htr-pad-state");
  const undoButton = element.querySelector(".htr-undo");
  const clearButton = element.querySelector(".htr-clear");
  const penButtons = Array.from(element.querySelectorAll(".htr-pen"));

  const pad = {
    strokes: [],      // finished strokes: {pen, points: [[x, y, t], ...]}
    current: null,    // the stroke being drawn
    pointer: null,    // the pointer drawing it
    box: null,        // the canvas's screen box while drawing
    pen: Number(root.dataset.pen) || 4,
    seq: 0,           // version of the drawing
    sent: 0,          // latest version a read was asked for
    answered: 0,      // latest version the server has read
    reads: 0,         // reads asked for
    timer: null,
    giveUp: null,
    frame: 0,
  };

  const round2 = (v) => Math.round(v * 100) / 100;
  const live = () => {
    if (root.dataset.live === "off") return false;  // a pad that only collects writing (the Teach tab)
    const box = document.querySelector("#live input[type=checkbox]");
    return !box || box.checked;
  };

  // ---- drawing, for the eye: smooth curves through the points, round caps and joins
  function fit() {
    const r = canvas.getBoundingClientRect();
    if (!r.width || !r.height) return;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(r.width * dpr), h = Math.round(r.height * dpr);
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    paint();
  }

  function trace(stroke) {
    const p = stroke.points;
    ctx.lineWidth = stroke.pen;
    ctx.beginPath();
    ctx.moveTo(p[0][0], p[0][1]);
    if (p.length === 1) {
      ctx.lineTo(p[0][0] + 0.01, p[0][1]);  // a dot: a round cap shows it
    } else if (p.length === 2) {
      ctx.lineTo(p[1][0], p[1][1]);
    } else {
      for (let i = 1; i < p.length - 1; i++) {
        ctx.quadraticCurveTo(p[i][0], p[i][1], (p[i][0] + p[i + 1][0]) / 2, (p[i][1] + p[i + 1][1]) / 2);
      }
      ctx.lineTo(p[p.length - 1][0], p[p.length - 1][1]);
    }
    ctx.stroke();
  }

  function paint() {
    pad.frame = 0;
    const dpr = window.devicePixelRatio || 1;
    ctx.clearRect(0, 0, canvas.width / dpr, canvas.height / dpr);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.strokeStyle = INK;
    for (const stroke of pad.strokes) trace(stroke);
    if (pad.current) trace(pad.current);
  }

  function schedulePaint() {
    if (!pad.frame) pad.frame = requestAnimationFrame(paint);
  }

  // ---- state shown to the user (and readable by tests through data- attributes)
  function show() {
    const waiting = pad.strokes.length > 0 && pad.answered < pad.seq && (live() || pad.sent > pad.answered);
    const reading = waiting && !pad.current;
    root.dataset.seq = pad.seq;
    root.dataset.answered = pad.answered;
    root.dataset.reads = pad.reads;
    root.dataset.strokes = pad.strokes.length;
    root.dataset.state = pad.current ? "writing" : reading ? "reading" : "idle";
    root.classList.toggle("htr-empty", pad.strokes.length === 0 && !pad.current);
    state.textContent = pad.current ? "" : reading ? "Reading\u2026" : "";
    undoButton.disabled = pad.strokes.length === 0;
    clearButton.disabled = pad.strokes.length === 0;
    const result = root.dataset.live === "off" ? null : document.getElementById("draw-result");
    if (result) result.classList.toggle("htr-stale", reading || !!pad.current && pad.answered > 0);
  }

  // ---- the drawing as data
  function changed(readNow) {
    pad.seq += 1;
    const pen = pad.strokes.reduce((m, s) => Math.max(m, s.pen), 0) || pad.pen;
    props.value = JSON.stringify({ seq: pad.seq, pen: pen, strokes: pad.strokes.map((s) => s.points) });
    clearTimeout(pad.timer);
    pad.timer = null;
    if (readNow) read();
    else if (live()) pad.timer = setTimeout(read, DEBOUNCE_MS);
    show();
  }

  function read() {
    clearTimeout(pad.timer);
    pad.timer = null;
    if (pad.current) return;  // writing again: the next pen-up asks
    pad.sent = pad.seq;
    pad.reads += 1;
    trigger("submit");
    expectAnswer();
    show();
  }

  // A reply that never comes (the server gone, the queue full: Gradio says so in a notice)
  // must not leave "Reading..." on for good.
  function expectAnswer() {
    clearTimeout(pad.giveUp);
    const waitingFor = pad.sent;
    pad.giveUp = setTimeout(() => {
      if (pad.answered < waitingFor) {
        pad.answered = waitingFor;
        show();
      }
    }, GIVE_UP_MS);
  }

  function point(e) {
    const b = pad.box;
    return [round2(e.clientX - b.left), round2(e.clientY - b.top), Math.round(e.timeStamp)];
  }

  function add(e) {
    const p = point(e), pts = pad.current.points, last = pts[pts.length - 1];
    if (last && last[0] === p[0] && last[1] === p[1]) return;
    pts.push(p);
  }

  canvas.addEventListener("pointerdown", (e) => {
    if (pad.current || (e.pointerType === "mouse" && e.button !== 0)) return;
    e.preventDefault();
    try { canvas.setPointerCapture(e.pointerId); } catch (_) { /* replayed events have no capture */ }
    clearTimeout(pad.timer);
    pad.timer = null;
    pad.pointer = e.pointerId;
    pad.box = canvas.getBoundingClientRect();
    pad.current = { pen: pad.pen, points: [] };
    add(e);
    schedulePaint();
    show();
  });

  canvas.addEventListener("pointermove", (e) => {
    if (!pad.current || e.pointerId !== pad.pointer) return;
    e.preventDefault();
    const events = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
    for (const ev of events.length ? events : [e]) add(ev);
    schedulePaint();
  });

  function penUp(e) {
    if (!pad.current || e.pointerId !== pad.pointer) return;
    if (e.type === "pointerup") add(e);
    pad.strokes.push(pad.current);
    pad.current = null;
    pad.pointer = null;
    schedulePaint();
    changed(false);
  }
  canvas.addEventListener("pointerup", penUp);
  canvas.addEventListener("pointercancel", penUp);

  undoButton.addEventListener("click", () => {
    if (!pad.strokes.length) return;
    pad.strokes.pop();
    paint();
    changed(pad.strokes.length === 0);  // undoing the last stroke clears the result at once
  });

  clearButton.addEventListener("click", () => {
    pad.strokes = [];
    pad.current = null;
    paint();
    changed(true);  // an empty drawing: the result is cleared at once
  });

  for (const button of penButtons) {
    button.addEventListener("click", () => {
      pad.pen = Number(button.dataset.pen);
      for (const b of penButtons) b.setAttribute("aria-pressed", b === button ? "true" : "false");
    });
  }

  // The server's answer: the version of the drawing it has just read.
  window.addEventListener("htr-draw-answer", (e) => {
    const seq = Number(e.detail) || 0;
    if (seq > pad.answered) pad.answered = seq;
    show();
  });

  // The button asks for a read of the current drawing: a pending live read is not needed.
  document.addEventListener("click", (e) => {
    if (root.dataset.live !== "off" && e.target instanceof Element && e.target.closest("#recognise-drawing")) {
      clearTimeout(pad.timer);
      pad.timer = null;
      if (pad.strokes.length) {
        pad.sent = pad.seq;
        expectAnswer();
      }
      show();
    }
  }, true);

  // Switching "Recognise as I draw" on reads what is already drawn.
  document.addEventListener("change", (e) => {
    if (e.target instanceof Element && e.target.closest("#live")) {
      if (live() && pad.strokes.length && pad.answered < pad.seq) read();
      show();
    }
  }, true);

  new ResizeObserver(fit).observe(canvas);
  fit();
  show();
})();
