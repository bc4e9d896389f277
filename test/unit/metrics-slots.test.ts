// The hot-path metric families answer exactly what prom-client's own Counter and Histogram would
// for the same observations (text, JSON, and summed over workers), and client input cannot add series.
import assert from "node:assert/strict";
import { test } from "node:test";
import { AggregatorRegistry, Counter, Histogram, Registry } from "prom-client";
import { CounterFamily, HistogramFamily } from "../../src/metrics/slots.js";
import { RequestMetrics } from "../../src/metrics/request-metrics.js";
import type { TokenEvent } from "../../src/events/token-event.js";

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
// Values on, between, below and above the bounds.
const VALUES = [0, 0.0001, 0.0005, 0.0007, 0.001, 0.003, 0.01, 0.2, 0.5, 0.9999, 10, 11, 300];

function both(): { ours: Registry; theirs: Registry } {
  const ours = new Registry();
  const theirs = new Registry();
  const h = new HistogramFamily("h_seconds", "A histogram.", ["outcome"], BUCKETS, ours);
  const c = new CounterFamily("c_total", "A counter.", ["outcome", "grant"], ours);
  const ph = new Histogram({ name: "h_seconds", help: "A histogram.", labelNames: ["outcome"], buckets: BUCKETS, registers: [theirs] });
  const pc = new Counter({ name: "c_total", help: "A counter.", labelNames: ["outcome", "grant"], registers: [theirs] });
  VALUES.forEach((v, i) => {
    const outcome = i % 3 === 0 ? "issued" : "unauthorized";
    h.slot(outcome).observe(v);
    ph.observe({ outcome }, v);
    c.slot(outcome, "password").value++;
    pc.inc({ outcome, grant: "password" });
  });
  return { ours, theirs };
}

test("counter and histogram families expose what prom-client's classes expose", async () => {
  const { ours, theirs } = both();
  assert.equal(await ours.metrics(), await theirs.metrics());
  // prom-client adds an empty `exemplar` to each value; without exemplars it carries nothing.
  const plain = (json: unknown) => JSON.parse(JSON.stringify(json, (k, v) => (k === "exemplar" ? undefined : v)));
  assert.deepEqual(plain(await ours.getMetricsAsJSON()), plain(await theirs.getMetricsAsJSON()));
});

test("summed over workers, the families aggregate as prom-client's classes do", async () => {
  const a = both();
  const b = both();
  const ours = AggregatorRegistry.aggregate([await a.ours.getMetricsAsJSON(), await b.ours.getMetricsAsJSON()]);
  const theirs = AggregatorRegistry.aggregate([await a.theirs.getMetricsAsJSON(), await b.theirs.getMetricsAsJSON()]);
  assert.equal(await ours.metrics(), await theirs.metrics());
  assert.match(await ours.metrics(), /^h_seconds_count\{outcome="issued"\} 10$/m);
});

test("a client's grant_type values never become label values", async () => {
  const m = new RequestMetrics();
  const event = (grant: string): TokenEvent => ({ requestId: 1, method: "POST", grant, outcome: "bad_request", status: 400, durationMs: 0.1 });
  for (let i = 0; i < 5000; i++) m.sink().token(event(`made-up-${i}`));
  m.sink().token(event("password"));
  const text = await m.registry.metrics();
  const series = text.split("\n").filter((l) => l.startsWith("regauth_token_requests_total{"));
  assert.deepEqual(series.sort(), [
    'regauth_token_requests_total{outcome="bad_request",grant="password",authn="none"} 1',
    'regauth_token_requests_total{outcome="bad_request",grant="unsupported",authn="none"} 5000',
  ]);
});
