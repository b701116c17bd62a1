// A small time-series line chart on <canvas>, written for this UI: shared time axis, nice y ticks,
// a crosshair with the values of every series, an optional target line, and min/max decimation per
// pixel column so thousands of points draw in one pass.

import { h, clear, palette } from "./util.js";

const PAD = { left: 54, right: 12, top: 10, bottom: 22 };

function niceStep(range, count) {
  const raw = range / Math.max(count, 1);
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const unit = raw / power;
  return (unit < 1.5 ? 1 : unit < 3 ? 2 : unit < 7 ? 5 : 10) * power;
}

function timeTicks(t0, t1, width) {
  const steps = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400].map((s) => s * 1000);
  const want = Math.max(2, Math.floor(width / 90));
  const step = steps.find((s) => (t1 - t0) / s <= want) || steps[steps.length - 1];
  const ticks = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) ticks.push(t);
  return { ticks, step };
}

function timeLabel(ms, step) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return step < 60000 ? `${hm}:${pad(d.getSeconds())}` : step >= 86400000 ? `${d.getMonth() + 1}/${d.getDate()}` : hm;
}

export function seriesName(labels) {
  const entries = Object.entries(labels || {}).filter(([k]) => k !== "__name__");
  const name = (labels || {}).__name__ || "";
  if (!entries.length) return name || "value";
  return `${name}{${entries.map(([k, v]) => `${k}="${v}"`).join(", ")}}`;
}

// Decimate one series to at most two points per pixel column (the column's min and max), keeping order.
function decimate(points, x, width) {
  if (points.length <= width * 2) return points;
  const out = [];
  let column = null;
  let lo = null;
  let hi = null;
  const flush = () => {
    if (lo === null) return;
    if (lo[0] <= hi[0]) out.push(lo, hi);
    else out.push(hi, lo);
  };
  for (const p of points) {
    const c = Math.round(x(p[0]));
    if (c !== column) {
      flush();
      column = c;
      lo = hi = null;
    }
    if (p[1] === null) {
      flush();
      out.push(p);
      lo = hi = null;
      continue;
    }
    if (lo === null || p[1] < lo[1]) lo = p;
    if (hi === null || p[1] > hi[1]) hi = p;
  }
  flush();
  return out;
}

export class LineChart {
  // options: {series: [{name, points: [[ms, value|null]]}], format: value → text, start, end,
  //           threshold: {value, label}, yMin, yMax, height}
  constructor(host, options) {
    this.host = host;
    this.options = options;
    clear(host);
    const series = options.series || [];
    const any = series.some((s) => s.points.some((p) => p[1] !== null));
    if (!any) {
      host.append(h("div.chart", { style: { height: `${options.height || 220}px` } }, h("div.chart-empty", options.empty || "No data in this range yet.")));
      return;
    }
    this.canvas = h("canvas", { role: "img", "aria-label": options.label || "chart" });
    this.tip = h("div.tip", { hidden: true });
    this.box = h("div.chart", { style: { height: `${options.height || 220}px` } }, this.canvas, this.tip);
    const colors = palette();
    this.series = series.map((s, i) => ({ ...s, color: colors[i % colors.length] }));
    this.legend = h(
      "div.legend",
      this.series.slice(0, 40).map((s) => h("span", { title: s.name }, h("i", { style: { background: s.color } }), s.name)),
      this.series.length > 40 ? h("span", `+${this.series.length - 40} more`) : null,
    );
    host.append(this.box, this.legend);
    this.canvas.addEventListener("mousemove", (e) => this.hover(e));
    this.canvas.addEventListener("mouseleave", () => {
      this.tip.hidden = true;
      this.draw();
    });
    this.resize = new ResizeObserver(() => this.draw());
    this.resize.observe(this.box);
  }

  scales() {
    const width = this.box.clientWidth;
    const height = this.box.clientHeight;
    let t0 = this.options.start;
    let t1 = this.options.end;
    let lo = this.options.yMin !== undefined ? this.options.yMin : Infinity;
    let hi = this.options.yMax !== undefined ? this.options.yMax : -Infinity;
    for (const s of this.series) {
      for (const [t, v] of s.points) {
        if (t0 === undefined || t < t0) t0 = t;
        if (t1 === undefined || t > t1) t1 = t;
        if (v === null) continue;
        if (this.options.yMin === undefined && v < lo) lo = v;
        if (this.options.yMax === undefined && v > hi) hi = v;
      }
    }
    if (this.options.threshold) hi = Math.max(hi, this.options.threshold.value * 1.1);
    if (!(hi > lo)) {
      hi = lo === Infinity ? 1 : lo + Math.max(Math.abs(lo) * 0.1, 1);
      if (lo === Infinity) lo = 0;
    }
    if (lo > 0 && this.options.yMin === undefined) lo = 0;
    const step = niceStep(hi - lo, Math.max(2, Math.floor(height / 45)));
    hi = Math.ceil(hi / step) * step;
    if (t1 <= t0) t1 = t0 + 1000;
    const plotW = width - PAD.left - PAD.right;
    const plotH = height - PAD.top - PAD.bottom;
    return {
      width, height, t0, t1, lo, hi, step, plotW, plotH,
      x: (t) => PAD.left + ((t - t0) / (t1 - t0)) * plotW,
      y: (v) => PAD.top + plotH - ((v - lo) / (hi - lo)) * plotH,
    };
  }

  draw(cursor) {
    if (!this.canvas) return;
    const s = this.scales();
    if (s.width <= 0 || s.height <= 0) return;
    const ratio = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(s.width * ratio);
    this.canvas.height = Math.round(s.height * ratio);
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    const style = getComputedStyle(this.box);
    const grid = style.getPropertyValue("--grid").trim();
    const muted = style.getPropertyValue("--muted").trim();
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = muted;
    ctx.strokeStyle = grid;
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    const format = this.options.format || ((v) => String(Math.round(v * 100) / 100));
    for (let v = s.lo; v <= s.hi + s.step / 2; v += s.step) {
      const y = Math.round(s.y(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(PAD.left, y);
      ctx.lineTo(s.width - PAD.right, y);
      ctx.stroke();
      ctx.fillText(format(v), PAD.left - 6, y);
    }
    const { ticks, step } = timeTicks(s.t0, s.t1, s.plotW);
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const t of ticks) ctx.fillText(timeLabel(t, step), s.x(t), s.height - PAD.bottom + 6);
    if (this.options.threshold) {
      const y = Math.round(s.y(this.options.threshold.value)) + 0.5;
      ctx.save();
      ctx.setLineDash([5, 4]);
      ctx.strokeStyle = style.getPropertyValue("--err").trim();
      ctx.beginPath();
      ctx.moveTo(PAD.left, y);
      ctx.lineTo(s.width - PAD.right, y);
      ctx.stroke();
      ctx.fillStyle = ctx.strokeStyle;
      ctx.textAlign = "left";
      ctx.textBaseline = "bottom";
      ctx.fillText(this.options.threshold.label || "target", PAD.left + 4, y - 2);
      ctx.restore();
    }
    ctx.lineWidth = 1.6;
    ctx.lineJoin = "round";
    for (const series of this.series) {
      ctx.strokeStyle = series.color;
      ctx.beginPath();
      let open = false;
      let single = null;
      let count = 0;
      for (const [t, v] of decimate(series.points, s.x, s.plotW)) {
        if (v === null) {
          open = false;
          continue;
        }
        const px = s.x(t);
        const py = s.y(v);
        if (open) ctx.lineTo(px, py);
        else ctx.moveTo(px, py);
        open = true;
        single = [px, py];
        count += 1;
      }
      ctx.stroke();
      if (count === 1 && single) {
        ctx.fillStyle = series.color;
        ctx.beginPath();
        ctx.arc(single[0], single[1], 2.5, 0, Math.PI * 2);
        ctx.fill();
      }
    }
    if (cursor !== undefined) {
      ctx.strokeStyle = muted;
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(Math.round(cursor) + 0.5, PAD.top);
      ctx.lineTo(Math.round(cursor) + 0.5, s.height - PAD.bottom);
      ctx.stroke();
    }
  }

  hover(event) {
    const s = this.scales();
    const rect = this.canvas.getBoundingClientRect();
    const px = event.clientX - rect.left;
    if (px < PAD.left || px > s.width - PAD.right) {
      this.tip.hidden = true;
      return;
    }
    const t = s.t0 + ((px - PAD.left) / s.plotW) * (s.t1 - s.t0);
    const format = this.options.format || ((v) => String(v));
    const rows = [];
    let at = null;
    for (const series of this.series) {
      let best = null;
      for (const p of series.points) {
        if (p[1] === null) continue;
        if (best === null || Math.abs(p[0] - t) < Math.abs(best[0] - t)) best = p;
      }
      if (best) {
        at = at === null || Math.abs(best[0] - t) < Math.abs(at - t) ? best[0] : at;
        rows.push([series, best[1]]);
      }
    }
    rows.sort((a, b) => b[1] - a[1]);
    clear(this.tip);
    this.tip.append(
      h("div.muted", at ? new Date(at).toLocaleTimeString([], { hour12: false }) : ""),
      rows.slice(0, 12).map(([series, v]) => h("div", h("i", { style: { background: series.color } }), `${format(v)}  ${series.name}`)),
    );
    this.tip.hidden = false;
    const left = px + 14 + this.tip.offsetWidth > s.width ? px - 14 - this.tip.offsetWidth : px + 14;
    this.tip.style.left = `${Math.max(0, left)}px`;
    this.tip.style.top = `${PAD.top}px`;
    this.draw(px);
  }

  dispose() {
    if (this.resize) this.resize.disconnect();
  }
}

// Chart series from a /ui/api answer ({series: [{labels, points}]}) named by the labels that differ.
export function fromQuery(answer, nameOf) {
  const all = (answer && answer.series) || [];
  const varying = new Set();
  for (const s of all) {
    for (const [k, v] of Object.entries(s.labels)) {
      if (all.some((o) => o.labels[k] !== v)) varying.add(k);
    }
  }
  return all.map((s) => ({
    name: nameOf
      ? nameOf(s.labels)
      : varying.size
        ? [...varying].map((k) => s.labels[k] || "").filter(Boolean).join(" · ") || seriesName(s.labels)
        : all.length === 1 && Object.keys(s.labels).some((k) => k !== "__name__")
          ? Object.entries(s.labels).filter(([k]) => k !== "__name__").map(([, v]) => v).join(" · ")
          : seriesName(s.labels),
    labels: s.labels,
    points: s.points,
  }));
}
