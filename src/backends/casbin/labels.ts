import type { Labels } from "../../config/types.js";

/**
 * Labels as docker_auth hands them to casbin: Go's json.Marshal of the map, keys sorted and
 * `<`, `>`, `&`, U+2028, U+2029 escaped, so that a matcher comparing the string itself sees
 * what it saw under docker_auth.
 */
export function labelsJson(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  const body = keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(labels[k] ?? null)}`).join(",");
  return `{${body}}`.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** A labels column: a JSON object of string lists; "" (or absent) means no constraint. */
export function parseLabelsColumn(text: string): Labels | undefined {
  if (text.trim() === "") return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) return undefined;
  for (const list of Object.values(v as Record<string, unknown>)) {
    if (list !== null && !(Array.isArray(list) && list.every((x) => typeof x === "string"))) return undefined;
  }
  return v as Labels;
}

/**
 * docker_auth's labelMatch(request, policy): every value the policy lists under a label is
 * among the request's values for it. A policy without labels matches every request.
 */
export function labelMatch(request: Labels, policy: Labels): boolean {
  for (const [label, wanted] of Object.entries(policy)) {
    const have = request[label] ?? [];
    for (const w of wanted ?? []) if (!have.includes(w)) return false;
  }
  return true;
}
