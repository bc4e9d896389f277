/**
 * What a backend that names actions may grant: only what was requested. A listed
 * `*` grants everything requested (as `actions: ["*"]` does in the ACL).
 */
export function grantedSubset(requested: readonly string[], listed: readonly string[]): string[] {
  if (listed.includes("*")) return [...requested];
  const set = new Set(listed);
  return requested.filter((a) => set.has(a));
}
