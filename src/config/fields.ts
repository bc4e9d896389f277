import { z } from "zod";
import { PlainScalar } from "./yaml-source.js";

// Go's yaml.v2 reads a plain scalar into whatever the field wants: its text for a
// string field, its value for a number or boolean one. These readers do the same, and
// every section (core or backend) uses them so that a value means the same everywhere.

const asText = (v: unknown) => (v instanceof PlainScalar ? v.text : v);
const asValue = (v: unknown) => (v instanceof PlainScalar ? (v.value instanceof Date ? v.text : typeof v.value === "bigint" ? Number(v.value) : v.value) : v);
/** YAML `key:` with nothing after it is null; docker_auth treats it as absent. */
export const nullIsAbsent =
  (f: (v: unknown) => unknown = (v) => v) =>
  (v: unknown) =>
    v === null ? undefined : f(v);

export const text = z.preprocess(asText, z.string());
export const optText = z.preprocess(nullIsAbsent(asText), z.string().optional());
export const optInt = z.preprocess(nullIsAbsent(asValue), z.number().int().optional());
/** A number where fractions make sense (`timeout_seconds: 2.5`). */
export const optNumber = z.preprocess(nullIsAbsent(asValue), z.number().optional());
export const optBool = z.preprocess(nullIsAbsent(asValue), z.boolean().optional());
export const optTextList = z.preprocess(nullIsAbsent(), z.array(text).optional());
/** A Go duration: `10s` as text, or a bare number (nanoseconds in Go, read by the section). */
export const optDuration = z.preprocess(
  nullIsAbsent((v) => (v instanceof PlainScalar ? (typeof v.value === "number" || typeof v.value === "bigint" ? Number(v.value) : v.text) : v)),
  z.union([z.string(), z.number()]).optional(),
);

/** An optional nested mapping, read strictly (unknown keys are errors with a suggestion). */
export const optMapping = <S extends z.ZodRawShape>(shape: S) => z.preprocess(nullIsAbsent(), z.strictObject(shape).optional());

/** Plain JSON-like values: a YAML number or boolean is its value, a date its text. */
export function plainValue(v: unknown): unknown {
  if (v instanceof PlainScalar) {
    if (v.value instanceof Date) return v.text;
    if (typeof v.value === "bigint") return Number.isSafeInteger(Number(v.value)) ? Number(v.value) : v.text;
    return v.value;
  }
  if (Array.isArray(v)) return v.map(plainValue);
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plainValue(x)]));
  return v;
}
