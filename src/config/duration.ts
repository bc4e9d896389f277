import type { SectionContext } from "./section.js";

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, "μs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration, in milliseconds; undefined when it is not one. */
export function parseGoDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === "0") return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gy;
  let total = 0;
  let end = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    end = re.lastIndex;
  }
  return end === s.length && end > 0 ? total : undefined;
}

/**
 * A Go duration key (`"10s"`, `"1m"`), in milliseconds; `fallback` when absent. A bare
 * number is refused: Go would read it as nanoseconds, which nobody means.
 */
export function durationMs(ctx: SectionContext, path: readonly (string | number)[], v: string | number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const ms = typeof v === "number" ? undefined : parseGoDuration(v);
  if (ms === undefined) {
    ctx.add(path, `must be a duration such as "5s", "500ms" or "1m" (a bare number is not one)`);
    return fallback;
  }
  if (ms <= 0) {
    ctx.add(path, "must be more than 0");
    return fallback;
  }
  return ms;
}
