import { BadRequestError } from "../errors.js";

/** One resource scope: `type[(class)]:name:action[,action...]`, as in the distribution spec. */
export interface Scope {
  type: string;
  class?: string;
  name: string;
  /** Requested actions, sorted and without duplicates. */
  actions: readonly string[];
}

// The distribution spec's scope grammar (docs/spec/auth/scope.md), compiled once.
const TYPE = /^([a-z0-9]+)(?:\(([a-z0-9]+)\))?$/;
const HOST_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const HOSTNAME = `${HOST_COMPONENT}(?:\\.${HOST_COMPONENT})*(?::[0-9]+)?`;
// The spec's separator `[_.]|__|[-]*` may be empty, which adds nothing to the language
// but makes a backtracking engine exponential on a long invalid name; `-+` is the same set of names.
const COMPONENT = "[a-z0-9]+(?:(?:[_.]|__|-+)[a-z0-9]+)*";
const NAME = new RegExp(`^(?:${HOSTNAME}/)?${COMPONENT}(?:/${COMPONENT})*$`);
const ACTION = /^(?:[a-z]+|\*)$/;
const MAX_NAME = 255;
/** More scopes than any client asks for in one request; bounds the work one request can cause. */
export const MAX_SCOPES = 100;

function printable(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}...` : s);
}

/** Parse one `type:name:actions` string; throws BadRequestError saying what is wrong. */
export function parseScope(text: string): Scope {
  const bad = (why: string) => new BadRequestError(`malformed scope ${printable(text)}: ${why}`, "INVALID_SCOPE");
  const first = text.indexOf(":");
  const last = text.lastIndexOf(":");
  if (first < 0 || first === last) throw bad("expected type:name:actions, e.g. repository:team/app:pull,push");
  const typePart = text.slice(0, first);
  const name = text.slice(first + 1, last);
  const actionPart = text.slice(last + 1);
  const t = TYPE.exec(typePart);
  if (!t) throw bad(`resource type ${printable(typePart)} must be lowercase letters and digits, optionally with a (class)`);
  if (name === "") throw bad("the resource name is empty");
  if (name.length > MAX_NAME) throw bad(`the resource name is longer than ${MAX_NAME} characters`);
  if (!NAME.test(name))
    throw bad(`resource name ${printable(name)} is not a valid repository name (lowercase path components separated by /, optionally after a registry host[:port])`);
  const actions = [...new Set(actionPart.split(",").filter((a) => a !== ""))].sort();
  if (actions.length === 0) throw bad("no actions requested");
  for (const a of actions) if (!ACTION.test(a)) throw bad(`action ${printable(a)} must be lowercase letters (pull, push, delete) or *`);
  return { type: t[1]!, class: t[2], name, actions };
}

/**
 * Parse every `scope` parameter (each may hold several space-separated scopes)
 * and merge repeats of the same resource into one scope with the union of actions.
 */
export function parseScopes(values: readonly string[]): Scope[] {
  const merged = new Map<string, Scope>();
  let count = 0;
  for (const value of values) {
    for (const part of value.split(" ")) {
      if (part === "") continue;
      if (++count > MAX_SCOPES) throw new BadRequestError(`too many scopes: at most ${MAX_SCOPES} per request`, "INVALID_SCOPE");
      const s = parseScope(part);
      const key = `${s.type}\0${s.class ?? ""}\0${s.name}`;
      const prev = merged.get(key);
      merged.set(key, prev ? { ...prev, actions: [...new Set([...prev.actions, ...s.actions])].sort() } : s);
    }
  }
  return [...merged.values()];
}

/** The scope back in its wire form, for logs and for `explain`. */
export function formatScope(s: Pick<Scope, "type" | "class" | "name">, actions: readonly string[]): string {
  return `${s.type}${s.class ? `(${s.class})` : ""}:${s.name}:${actions.join(",")}`;
}
