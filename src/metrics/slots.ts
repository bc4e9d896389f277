import type { Registry } from "prom-client";

/**
 * Counters and histograms for the token endpoint's hot path. prom-client's own classes hash a
 * label object on every `inc`/`observe` (several a request, a tenth of an anonymous pull's
 * time); here a label set is looked up once by its values and an observation is an add. The
 * families answer prom-client's `get()` in its own shape, so its Registry still formats them,
 * and its AggregatorRegistry still sums them over cluster workers.
 */

type Labels = Record<string, string>;
interface Value {
  labels: Labels;
  value: number;
  metricName?: string;
}

/** One metric family: its series by label values, each a slot made on first use. Callers keep every label to a bounded set. */
abstract class SlotFamily<S> {
  readonly aggregator = "sum";
  readonly slots = new Map<string, S>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /** Label values in `labelNames` order. */
  slot(...values: string[]): S {
    const key = values.length === 1 ? values[0]! : values.join("\u0000");
    let slot = this.slots.get(key);
    if (!slot) {
      const labels: Labels = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i]!));
      this.slots.set(key, (slot = this.make(labels)));
    }
    return slot;
  }

  protected abstract make(labels: Labels): S;

  reset(): void {
    this.slots.clear();
  }
}

export interface CounterSlot {
  readonly labels: Labels;
  value: number;
}

export class CounterFamily extends SlotFamily<CounterSlot> {
  readonly type = "counter";

  protected make(labels: Labels): CounterSlot {
    return { labels, value: 0 };
  }

  async get(): Promise<{ name: string; help: string; type: "counter"; aggregator: "sum"; values: Value[] }> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: [...this.slots.values()].map((s) => ({ labels: { ...s.labels }, value: s.value })) };
  }
}

export class HistogramSlot {
  /** Observations per bucket (not cumulative); the last is above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Labels,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

export class HistogramFamily extends SlotFamily<HistogramSlot> {
  readonly type = "histogram";
  constructor(name: string, help: string, labelNames: readonly string[], readonly buckets: readonly number[], registry: Registry) {
    super(name, help, labelNames, registry);
  }

  protected make(labels: Labels): HistogramSlot {
    return new HistogramSlot(labels, this.buckets);
  }

  /** `_bucket` (cumulative, `le` first among the labels), `_sum` and `_count` per label set, as prom-client's Histogram gives them. */
  async get(): Promise<{ name: string; help: string; type: "histogram"; aggregator: "sum"; values: Value[] }> {
    const values: Value[] = [];
    for (const s of this.slots.values()) {
      let acc = 0;
      this.buckets.forEach((le, i) => {
        acc += s.counts[i]!;
        values.push({ labels: { le: le as unknown as string, ...s.labels }, value: acc, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: "+Inf", ...s.labels }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
