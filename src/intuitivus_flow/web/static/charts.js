// Interactive charts: each <figure data-chart> holds a server-rendered picture and its data as
// JSON (<script type="application/json">, written by kit/chart_data.py). This script draws the
// data with uPlot (vendor/uplot/) in place of the picture: readable axes, a live legend, a
// tooltip, drag to zoom and double-click to reset. Without it, or without uPlot, the page keeps
// the picture and the figures table. No inline styles or scripts: the CSP allows none.
"use strict";

(() => {
  // Lines: WCAG contrast >= 3:1 against white for graphical objects.
  const PALETTE = ["#2563eb", "#b45309", "#047857", "#be123c", "#0e7490"];
  // Forecasts keep the colours of the server's legend (flow.css .forecast-legend--*).
  const FORECAST = "#7c3aed";
  const BAND_FILL = "rgba(124, 58, 237, 0.15)";
  const THRESHOLD = "#dc2626";
  const MARKER = "#dc2626";
  const ANOMALY = "#dc2626";
  const AXIS_TEXT = "#3e4c59";
  const GRID = "#e4e7eb";
  const FONT = '13px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  const LABEL_FONT = '600 13px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

  const compact = new Intl.NumberFormat("en", { maximumSignificantDigits: 3, notation: "compact" });
  const precise = new Intl.NumberFormat("en", { maximumSignificantDigits: 4 });
  const whenLong = new Intl.DateTimeFormat("en-GB", {
    day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZone: "UTC",
  });
  const clock = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", timeZone: "UTC" });
  const day = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });

  const month = new Intl.DateTimeFormat("en-GB", { month: "short", year: "numeric", timeZone: "UTC" });

  // Time ticks: 24-hour clock within a day and a half, dates beyond (always UTC, as the pages);
  // monthly figures (KPIs) by month, daily counts (alerts) by date even over a short span.
  function timeTicks(spec) {
    return (u, splits) => {
      const span = u.scales.x.max - u.scales.x.min;
      const format = spec.period === "month" ? month : spec.period === "day" || span > 36 * 3600 ? day : clock;
      return splits.map((x) => format.format(new Date(x * 1000)));
    };
  }

  function withUnit(text, unit) {
    if (!unit) return text;
    if (unit === "%" || unit === "% of pool") return `${text} %`;
    return `${text} ${unit}`;
  }

  function tickText(value) {
    return Math.abs(value) >= 1000 ? compact.format(value) : precise.format(value);
  }

  function heightFor(width) {
    return width < 480 ? 220 : 280;
  }

  function yRange(spec) {
    const floor = spec.range ? spec.range.floor : null;
    const ceiling = spec.range ? spec.range.ceiling : null;
    return (u, min, max) => {
      if (min === null || max === null) return [0, 1];
      let [low, high] = uPlot.rangeNum(min, max, 0.1, true);
      if (floor !== null && floor !== undefined) low = Math.min(floor, min);
      if (ceiling !== null && ceiling !== undefined) high = Math.max(ceiling, max);
      if (high <= low) high = low + 1;
      return [low, high];
    };
  }

  function seriesOptions(spec) {
    let colour = 0;
    return spec.series.map((s) => {
      const base = {
        label: s.label,
        spanGaps: false,
        value: (u, v) => (v === null || v === undefined ? "—" : withUnit(precise.format(v), spec.unit)),
      };
      if (s.style === "hidden") {
        return { ...base, stroke: "rgba(124, 58, 237, 0.35)", width: 1, points: { show: false } };
      }
      if (s.style === "threshold") {
        return { ...base, stroke: THRESHOLD, width: 2, dash: [6, 4], points: { show: false } };
      }
      if (s.style === "forecast") {
        return { ...base, stroke: FORECAST, width: 2, dash: [8, 5], points: { show: false } };
      }
      if (s.style === "points") {
        return {
          ...base, stroke: ANOMALY, paths: () => null,
          points: { show: true, size: 10, width: 2.5, stroke: ANOMALY, fill: "#fff" },
        };
      }
      const stroke = PALETTE[colour++ % PALETTE.length];
      return { ...base, stroke, width: 2, points: { show: false } };
    });
  }

  function markerPlugin(spec) {
    return {
      hooks: {
        draw: [(u) => {
          const ctx = u.ctx;
          for (const marker of spec.markers || []) {
            if (marker.from !== null && marker.from !== undefined) {
              // The marker's uncertainty (e.g. the crossing's 80 % band), clipped to the plot.
              const left = Math.max(u.bbox.left, u.valToPos(marker.from, "x", true));
              const right = Math.min(u.bbox.left + u.bbox.width, u.valToPos(marker.to ?? u.scales.x.max, "x", true));
              if (right > left) {
                ctx.save();
                ctx.fillStyle = "rgba(220, 38, 38, 0.1)";
                ctx.fillRect(left, u.bbox.top, right - left, u.bbox.height);
                ctx.restore();
              }
            }
            const x = u.valToPos(marker.at, "x", true);
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
            ctx.save();
            ctx.strokeStyle = MARKER;
            ctx.lineWidth = 2 * uPlot.pxRatio;
            ctx.setLineDash([4 * uPlot.pxRatio, 3 * uPlot.pxRatio]);
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
            ctx.restore();
          }
        }],
      },
    };
  }

  // A tooltip next to the cursor: the moment and every visible line's value at it.
  function tooltipPlugin(spec, describeX) {
    let tip;
    return {
      hooks: {
        init: [(u) => {
          tip = document.createElement("div");
          tip.className = "flow-chart__tooltip";
          tip.hidden = true;
          u.over.appendChild(tip);
          u.over.addEventListener("mouseleave", () => { tip.hidden = true; });
        }],
        setCursor: [(u) => {
          const i = u.cursor.idx;
          if (i === null || i === undefined || u.cursor.left < 0) { tip.hidden = true; return; }
          tip.replaceChildren();
          const head = document.createElement("strong");
          head.textContent = describeX(u.data[0][i]);
          tip.appendChild(head);
          u.series.forEach((s, k) => {
            if (k === 0 || !s.show) return;
            const v = u.data[k][i];
            if (v === null || v === undefined) return;
            const row = document.createElement("span");
            row.textContent = `${s.label}: ${withUnit(precise.format(v), spec.unit)}`;
            tip.appendChild(row);
          });
          tip.hidden = tip.childElementCount < 2;
          const flip = u.cursor.left > u.over.clientWidth / 2;
          tip.style.left = `${flip ? u.cursor.left - tip.offsetWidth - 12 : u.cursor.left + 12}px`;
          tip.style.top = `${Math.max(0, u.cursor.top - tip.offsetHeight - 8)}px`;
        }],
      },
    };
  }

  function options(spec, width) {
    const category = spec.kind === "category";
    const describeX = category
      ? (x) => spec.labels[x] ?? ""
      : spec.period === "month"
        ? (x) => month.format(new Date(x * 1000))
        : spec.period === "day"
          ? (x) => `${day.format(new Date(x * 1000))} (UTC day)`
          : (x) => `${whenLong.format(new Date(x * 1000))} UTC`;
    const xAxis = {
      font: FONT, stroke: AXIS_TEXT, grid: { stroke: GRID }, ticks: { stroke: GRID },
      space: category ? 48 : 70, values: timeTicks(spec),
    };
    if (category) {
      xAxis.incrs = [1];
      xAxis.values = (u, splits) => splits.map((x) => (Number.isInteger(x) ? spec.labels[x] ?? "" : ""));
    }
    return {
      width,
      height: heightFor(width),
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      scales: { x: { time: !category }, y: { range: yRange(spec) } },
      series: [{ label: category ? "Period" : "Time (UTC)", value: (u, x) => (x === null ? "—" : describeX(x)) }, ...seriesOptions(spec)],
      bands: (spec.bands || []).map((b) => ({ series: [b.upper + 1, b.lower + 1], fill: BAND_FILL })),
      axes: [
        xAxis,
        {
          font: FONT, labelFont: LABEL_FONT, stroke: AXIS_TEXT, grid: { stroke: GRID },
          ticks: { stroke: GRID }, label: spec.unit || "", labelSize: 22, size: 60,
          values: (u, splits) => splits.map(tickText),
          // Counts (alerts per day) tick at whole numbers: no "0.5 alerts".
          ...(spec.integers ? { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000] } : {}),
        },
      ],
      legend: { live: true },
      cursor: { drag: { x: !category, y: false } },
      plugins: [markerPlugin(spec), tooltipPlugin(spec, describeX)],
    };
  }

  function upgrade(figure) {
    const source = document.getElementById(figure.dataset.chart);
    if (!source) return;
    let spec;
    try {
      spec = JSON.parse(source.textContent);
    } catch {
      return; // keep the server's picture
    }
    if (!spec.x || spec.x.length === 0) return; // the server already says "No data yet"
    const host = document.createElement("div");
    host.className = "flow-chart__canvas";
    host.setAttribute("role", "img");
    host.setAttribute("aria-label", spec.summary || spec.title);
    const fallback = figure.querySelector(".flow-chart__fallback");
    figure.insertBefore(host, fallback);
    const data = [spec.x, ...spec.series.map((s) => s.values)];
    const width = () => Math.max(240, host.clientWidth || figure.clientWidth);
    const plot = new uPlot(options(spec, width()), data, host);
    // While the cursor is elsewhere the legend shows the latest values, not dashes.
    // The last moment the first line has a value (a forecast runs on past the history).
    const first = spec.series[0].values;
    let last = first.length - 1;
    while (last > 0 && first[last] === null) last--;
    const latest = () => plot.setLegend({ idx: last }, false);
    requestAnimationFrame(latest); // after uPlot's first commit, which empties the legend
    plot.over.addEventListener("mouseleave", () => requestAnimationFrame(latest));
    if (fallback) fallback.hidden = true;
    figure.classList.add("flow-chart--live");
    if ("ResizeObserver" in window) {
      let last = width();
      new ResizeObserver(() => {
        const now = width();
        if (Math.abs(now - last) < 2) return;
        last = now;
        plot.setSize({ width: now, height: heightFor(now) });
      }).observe(host);
    }
  }

  function draw(figure) {
    try {
      upgrade(figure);
    } catch (error) {
      console.error("chart not drawn", error); // the fallback stays visible
    }
  }

  // One chart per task, and only once it nears the viewport: a page of seven charts never
  // blocks the main thread for long (Lighthouse's total blocking time on a slow phone).
  const later = window.requestIdleCallback
    ? (fn) => window.requestIdleCallback(fn, { timeout: 500 })
    : (fn) => window.setTimeout(fn, 0);

  function start() {
    if (typeof uPlot === "undefined") return; // the library did not load: keep the fallbacks
    const figures = document.querySelectorAll("figure[data-chart]");
    if (!("IntersectionObserver" in window)) {
      figures.forEach((figure) => later(() => draw(figure)));
      return;
    }
    const watcher = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        watcher.unobserve(entry.target);
        later(() => draw(entry.target));
      }
    }, { rootMargin: "200px 0px" });
    figures.forEach((figure) => watcher.observe(figure));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
