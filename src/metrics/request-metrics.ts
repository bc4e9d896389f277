import { Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { BackendHealth } from "../backends/backend.js";
import type { BackendCallResult } from "../events/backend-call.js";
import type { EventSink, TokenEvent } from "../events/token-event.js";
import { isServedGrant } from "../grants/dispatch.js";
import { CounterFamily, HistogramFamily } from "./slots.js";

/** Latency buckets for a token request: a cached login takes about a millisecond, bcrypt tens, a slow backend seconds. */
const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];


/**
 * The metrics of one serving process (a worker, or the single process): token requests,
 * scopes, the credential cache, backend calls and readiness. They outlive reloads (one
 * per server, not per App); labels are bounded sets, never account names or repositories.
 */
export class RequestMetrics {
  readonly registry = new Registry();
  readonly #requests: CounterFamily;
  readonly #duration: HistogramFamily;
  readonly #scopes: CounterFamily;
  readonly #cache: CounterFamily;
  readonly #backendCalls: CounterFamily;
  readonly #backendDuration: HistogramFamily;
  #health: (() => Promise<Map<string, BackendHealth>>) | undefined;

  constructor() {
    const r = this.registry;
    this.#requests = new CounterFamily("regauth_token_requests_total", "Token requests by outcome, grant and the authentication method that decided.", ["outcome", "grant", "authn"], r);
    this.#duration = new HistogramFamily("regauth_token_request_duration_seconds", "Token request latency, from the first byte read to the answer.", ["outcome"], SECONDS, r);
    this.#scopes = new CounterFamily("regauth_scopes_total", "Requested scopes by what was granted: all actions, some, or none.", ["result"], r);
    this.#cache = new CounterFamily("regauth_credential_cache_total", "Password logins answered from the verified-credential cache (hit) or checked by a method (miss).", ["result"], r);
    this.#backendCalls = new CounterFamily("regauth_backend_calls_total", "Calls to authentication and authorization backends by result.", ["backend", "result"], r);
    this.#backendDuration = new HistogramFamily("regauth_backend_call_duration_seconds", "Backend call latency.", ["backend"], SECONDS, r);
    const registers = [r];
    const health = () => this.#health?.() ?? Promise.resolve(new Map<string, BackendHealth>());
    new Gauge({
      name: "regauth_backend_up",
      help: "Whether a backend answers its readiness check (1) or not (0); the lowest over workers.",
      labelNames: ["backend"],
      registers,
      aggregator: "min",
      async collect() {
        this.reset();
        for (const [backend, h] of await health()) this.set({ backend }, h.ok ? 1 : 0);
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: "regauth_" });
  }

  /** Where `regauth_backend_up` comes from: the current App's health, asked at each scrape. */
  healthFrom(f: () => Promise<Map<string, BackendHealth>>): void {
    this.#health = f;
  }

  backendCall(backend: string, result: BackendCallResult, seconds: number): void {
    this.#backendCalls.slot(backend, result).value++;
    this.#backendDuration.slot(backend).observe(seconds);
  }

  /** The sink the token endpoint's events go to. */
  sink(): EventSink {
    return { token: (e) => this.#token(e) };
  }

  #token(e: TokenEvent): void {
    // grant_type is whatever a client sent: only the grants served are label values.
    const grant = e.grant === undefined ? "none" : isServedGrant(e.grant) ? e.grant : "unsupported";
    this.#requests.slot(e.outcome, grant, e.authn ?? "none").value++;
    this.#duration.slot(e.outcome).observe(e.durationMs / 1000);
    // Anonymous requests (no account) are not logins: they never reach the cache.
    if (e.grant === "password" && e.account && e.authn !== undefined && e.cached !== undefined) this.#cache.slot(e.cached ? "hit" : "miss").value++;
    // Scopes are decided only for an issued token; a refused login decides none.
    if (e.outcome !== "issued") return;
    const granted = e.granted ?? [];
    const requested = e.requested ?? [];
    for (let i = 0; i < requested.length; i++) {
      const wanted = actionCount(requested[i]!);
      const got = granted[i] === undefined ? 0 : actionCount(granted[i]!);
      this.#scopes.slot(got === 0 ? "denied" : got >= wanted ? "granted" : "partial").value++;
    }
  }
}

/** The actions of `type:name:a,b`, counted (names have no `:`; the actions come after the last). */
function actionCount(scope: string): number {
  const at = scope.lastIndexOf(":") + 1;
  if (at === scope.length) return 0;
  let n = 1;
  for (let i = scope.indexOf(",", at); i >= 0; i = scope.indexOf(",", i + 1)) n++;
  return n;
}
