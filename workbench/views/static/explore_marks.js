// The explorer's stop markers, drawn in the page over the picture of the curves.
//
// The kernel sends, per compared rule, where it stops now ("marks") and, per slider, where
// it would stop at every value of that slider with the others held ("tables"). When a
// slider moves, this module reads the answer from the table and redraws at once, without
// waiting for the kernel; the kernel's own answer follows and wins where they differ.

function nearest(table, value) {
  let best = 0;
  for (let i = 1; i < table.values.length; i++) {
    if (Math.abs(table.values[i] - value) < Math.abs(table.values[best] - value)) best = i;
  }
  return { epoch: table.epochs[best], y: table.ys[best] };
}

function render({ model, el }) {
  const canvas = document.createElement("canvas");
  canvas.className = "wb-explore-marks";
  canvas.style.display = "block";
  canvas.style.pointerEvents = "none"; // the picture under it stays what the mouse sees
  el.appendChild(canvas);
  const ctx = canvas.getContext("2d");
  const sliders = []; // per rule: {name: slider model}
  const moved = []; // per rule: the name of the slider moved last

  // where rule i stops now: from its table when the page knows better than the kernel
  function position(i, mark) {
    const name = moved[i];
    const table = name && (model.get("tables")[i] || {})[name];
    const models = sliders[i] || {};
    if (!table || !models[name]) return mark;
    for (const [other, value] of Object.entries(table.at)) {
      const m = models[other];
      if (other !== name && m && Math.abs(m.get("value") - value) > 1e-9) return mark;
    }
    return nearest(table, models[name].get("value"));
  }

  function draw() {
    const g = model.get("geometry");
    if (!g.width) return;
    const ratio = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(g.width * ratio)) {
      canvas.width = Math.round(g.width * ratio);
      canvas.height = Math.round(g.height * ratio);
      canvas.style.width = `${g.width}px`;
      canvas.style.height = `${g.height}px`;
    }
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, g.width, g.height);
    model.get("marks").forEach((mark, i) => {
      const at = position(i, mark);
      if (at.epoch === null || at.epoch === undefined) return;
      ctx.strokeStyle = mark.color;
      ctx.fillStyle = mark.color;
      ctx.lineWidth = 2;
      g.axes.forEach((a, k) => {
        const x = a.x0 + ((at.epoch - a.xlim[0]) / (a.xlim[1] - a.xlim[0])) * (a.x1 - a.x0);
        ctx.beginPath();
        ctx.moveTo(x, a.y0);
        ctx.lineTo(x, a.y1);
        ctx.stroke();
        if (k === mark.dot_axis && at.y !== null && at.y !== undefined) {
          const y = a.y1 - ((at.y - a.ylim[0]) / (a.ylim[1] - a.ylim[0])) * (a.y1 - a.y0);
          ctx.beginPath();
          ctx.arc(x, y, 4, 0, 2 * Math.PI);
          ctx.fill();
        }
      });
    });
    el.dataset.drawn = String(performance.now()); // tests time the paint from this
  }

  const unsubscribe = [];
  async function listen() {
    unsubscribe.splice(0).forEach((off) => off());
    const refs = model.get("sliders");
    for (let i = 0; i < refs.length; i++) {
      sliders[i] = {};
      for (const [name, ref] of Object.entries(refs[i])) {
        const m = await model.widget_manager.get_model(ref.replace("IPY_MODEL_", ""));
        const moveTo = () => {
          moved[i] = name;
          draw();
        };
        m.on("change:value", moveTo);
        unsubscribe.push(() => m.off("change:value", moveTo));
        sliders[i][name] = m;
      }
    }
    draw();
  }

  model.on("change:marks", draw);
  model.on("change:geometry", draw);
  model.on("change:sliders", listen);
  listen();
  return () => unsubscribe.forEach((off) => off());
}

export default { render };
