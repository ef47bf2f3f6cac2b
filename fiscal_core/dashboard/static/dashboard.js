// fiscal_core dashboard — a little vanilla JS, no build step. Every page works without it except the live chart.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-print]").forEach((b) => b.addEventListener("click", () => window.print()));
  const form = document.getElementById("manual-form");
  if (form) sums(form);
  const chart = document.getElementById("live-chart");
  if (chart) live(chart);
});

// Manual receipt: item sum = price × quantity, total and payment = Σ sums, as the user types (the server still
// validates exactly what is posted, as the API does).
function sums(form) {
  const num = (el) => (el && el.value.trim() !== "" ? Number(el.value.replace(",", ".")) : NaN);
  const recompute = () => {
    let total = 0;
    let any = false;
    form.querySelectorAll("[data-item]").forEach((row) => {
      const price = num(row.querySelector("[data-price]"));
      const qty = num(row.querySelector("[data-qty]"));
      const sum = row.querySelector("[data-sum]");
      if (!Number.isNaN(price) && !Number.isNaN(qty) && sum && !sum.dataset.touched) {
        sum.value = (Math.round(price * qty * 100) / 100).toFixed(2);
      }
      const s = num(sum);
      if (!Number.isNaN(s)) { total += s; any = true; }
    });
    if (!any) return;
    form.querySelectorAll("[data-total]").forEach((el) => { if (!el.dataset.touched) el.value = total.toFixed(2); });
  };
  form.addEventListener("input", (ev) => {
    if (ev.target.matches("[data-sum], [data-total]")) ev.target.dataset.touched = "1";
    recompute();
  });
}

// Live throughput: /ui/live.json every second; receipts/s from the difference of the tenant's counter.
function live(svg) {
  const W = 720, H = 260, L = 48, B = 24, N = 120;
  const points = [];
  let last = null;
  const line = svg.querySelector("polyline");
  const top = svg.querySelector("#live-top");
  const now = document.getElementById("live-now");
  const queue = document.getElementById("live-queue");
  const total = document.getElementById("live-total");
  const tick = async () => {
    try {
      const r = await fetch("/ui/live.json", { credentials: "same-origin", cache: "no-store" });
      if (!r.ok) return;
      const d = await r.json();
      if (last && d.t > last.t) points.push(Math.max(0, (d.done + d.fail - last.done - last.fail) / (d.t - last.t)));
      last = d;
      while (points.length > N) points.shift();
      const max = Math.max(1, ...points) * 1.25; // headroom above the highest second
      top.textContent = max.toFixed(0);
      const first = N - points.length; // the newest sample at the right edge
      line.setAttribute("points", points.map((v, i) =>
        `${(L + ((first + i) * (W - L - 8)) / (N - 1)).toFixed(1)},${(H - B - (v / max) * (H - B - 12)).toFixed(1)}`)
        .join(" "));
      now.textContent = points.length ? points[points.length - 1].toFixed(1) : "0";
      queue.textContent = String(d.queue);
      total.textContent = String(d.done);
      svg.dataset.samples = String(points.length);
    } catch (e) { /* the next tick tries again */ }
  };
  tick();
  setInterval(tick, 1000);
}
