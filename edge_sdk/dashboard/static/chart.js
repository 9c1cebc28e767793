/*
 * Time-series line charts drawn on <canvas>, so the dashboard needs no charting library.
 *
 * A Series keeps the last points of one quantity; drawSeries renders the newest `windowS`
 * seconds of it. Time comes from the device's own timestamps, and the x axis ends at the newest
 * point, so a skew between the device's clock and the browser's does not shift the chart.
 */
(function (root) {
  "use strict";

  class Series {
    constructor(capacity = 600) {
      this.capacity = capacity;
      this.points = []; // [timeS, value], in arrival order
    }

    push(timeS, value) {
      if (!Number.isFinite(timeS) || !Number.isFinite(value)) return;
      this.points.push([timeS, value]);
      if (this.points.length > this.capacity) this.points.splice(0, this.points.length - this.capacity);
    }

    get last() {
      return this.points.length ? this.points[this.points.length - 1][1] : null;
    }
  }

  /** The smallest 1, 2 or 5 times a power of ten at or above `value`: a round axis maximum. */
  function niceCeil(value) {
    if (!(value > 0)) return 1;
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
    return 10 * power;
  }

  function formatTick(value) {
    if (value >= 10) return value.toFixed(0);
    return String(Number(value.toFixed(value >= 1 ? 1 : 2)));
  }

  /** Sizes the backing store to the element's CSS size times devicePixelRatio, for sharp lines. */
  function prepare(canvas) {
    const ratio = root.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    return { context, width: canvas.clientWidth, height: canvas.clientHeight };
  }

  function formatSpan(seconds) {
    return seconds >= 120 ? `−${Math.round(seconds / 60)} min` : `−${Math.round(seconds)} s`;
  }

  /**
   * The x axis ends at the newest point and spans the visible history, between `minSpanS` and
   * `windowS`: a chart fills its width from the start instead of waiting a whole window.
   */
  function drawSeries(canvas, series, { color = "#38bdf8", windowS = 60, minSpanS = 10 } = {}) {
    const { context: ctx, width, height } = prepare(canvas);
    const pad = { left: 4, right: 30, top: 6, bottom: 16 };
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    ctx.clearRect(0, 0, width, height);

    const points = series.points;
    const endS = points.length ? points[points.length - 1][0] : 0;
    const visible = points.filter(([t]) => t >= endS - windowS);
    const spanS = Math.min(windowS, Math.max(minSpanS, visible.length ? endS - visible[0][0] : 0));
    const maxValue = niceCeil(Math.max(0, ...visible.map(([, v]) => v)) * 1.1);
    const x = (t) => pad.left + plotW * (1 - (endS - t) / spanS);
    const y = (v) => pad.top + plotH * (1 - v / maxValue);

    // Time labels under the plot: how far back the left edge is, and the newest point.
    ctx.font = "10px system-ui, sans-serif";
    ctx.fillStyle = "rgba(148,163,184,0.7)";
    ctx.textBaseline = "bottom";
    ctx.textAlign = "left";
    ctx.fillText(formatSpan(spanS), pad.left, height);
    ctx.textAlign = "right";
    ctx.fillText("now", pad.left + plotW, height);
    ctx.textAlign = "left";

    // Grid: baseline, middle and top, labelled on the right.
    ctx.textBaseline = "middle";
    for (const fraction of [0, 0.5, 1]) {
      const value = maxValue * fraction;
      const gy = Math.round(y(value)) + 0.5;
      ctx.strokeStyle = fraction === 0 ? "rgba(148,163,184,0.45)" : "rgba(148,163,184,0.15)";
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(pad.left, gy);
      ctx.lineTo(pad.left + plotW, gy);
      ctx.stroke();
      ctx.fillStyle = "rgba(148,163,184,0.8)";
      ctx.fillText(formatTick(value), pad.left + plotW + 4, gy);
    }
    canvas.dataset.points = String(visible.length);
    if (!visible.length) return;

    ctx.beginPath();
    visible.forEach(([t, v], index) => (index ? ctx.lineTo(x(t), y(v)) : ctx.moveTo(x(t), y(v))));
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.5;
    ctx.lineJoin = "round";
    ctx.stroke();

    // Area under the line, so a single point or a flat series still reads as a level.
    ctx.lineTo(x(visible[visible.length - 1][0]), y(0));
    ctx.lineTo(x(visible[0][0]), y(0));
    ctx.closePath();
    ctx.globalAlpha = 0.15;
    ctx.fillStyle = color;
    ctx.fill();
    ctx.globalAlpha = 1;

    const [lastT, lastV] = visible[visible.length - 1];
    ctx.beginPath();
    ctx.arc(x(lastT), y(lastV), 2.5, 0, 2 * Math.PI);
    ctx.fillStyle = color;
    ctx.fill();
  }

  root.EdgeChart = { Series, drawSeries, niceCeil };
})(typeof self !== "undefined" ? self : this);
