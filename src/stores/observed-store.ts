import { observed, type BackendCallObserver } from "../events/backend-call.js";
import type { TokenStore } from "./token-store.js";

/**
 * `store` with every call timed and counted under `token_store (BACKEND)`; the shared store
 * itself is untouched (other configurations may hold it), only this view reports.
 */
export function observedStore(store: TokenStore, observe: BackendCallObserver): TokenStore {
  const name = `token_store (${store.backend})`;
  const ok = () => "ok" as const;
  return {
    backend: store.backend,
    put: (c) => observed(observe, name, () => store.put(c), ok),
    get: (id, now) => observed(observe, name, () => store.get(id, now), (r) => (r ? "ok" : "no_match")),
    touch: (id, at, idle) => observed(observe, name, () => store.touch(id, at, idle), ok),
    list: (now, filter) => observed(observe, name, () => store.list(now, filter), ok),
    revoke: (sel) => observed(observe, name, () => store.revoke(sel), ok),
    purge: (now) => observed(observe, name, () => store.purge(now), ok),
    hit: (key, windowMs, now) => observed(observe, name, () => store.hit(key, windowMs, now), ok),
    amend: (id, labels, attachment) => observed(observe, name, () => store.amend(id, labels, attachment), ok),
    resetHits: (key, windowMs, now) => observed(observe, name, () => store.resetHits(key, windowMs, now), ok),
    health: () => store.health(),
    close: () => store.close(),
  };
}
