import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { BackendHealth } from "../backends/backend.js";
import type { BackendCallResult } from "../events/backend-call.js";
import type { EventSink, TokenEvent } from "../events/token-event.js";

/** Latency buckets for a token request: a cached login takes about a millisecond, bcrypt tens, a slow backend seconds. */
const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];


/**
 * The metrics of one serving process (a worker, or the single process): token requests,
 * scopes, the credential cache, backend calls and readiness. They outlive reloads (one
 * per server, not per App); labels are bounded sets, never account names or repositories.
 */
export class RequestMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<"outcome" | "grant" | "authn">;
  readonly #duration: Histogram<"outcome">;
  readonly #scopes: Counter<"result">;
  readonly #cache: Counter<"result">;
  readonly #backendCalls: Counter<"backend" | "result">;
  readonly #backendDuration: Histogram<"backend">;
  #health: (() => Promise<Map<string, BackendHealth>>) | undefined;

  constructor() {
    const registers = [this.registry];
    this.#requests = new Counter({ name: "regauth_token_requests_total", help: "Token requests by outcome, grant and the authentication method that decided.", labelNames: ["outcome", "grant", "authn"], registers });
    this.#duration = new Histogram({ name: "regauth_token_request_duration_seconds", help: "Token request latency, from the first byte read to the answer.", labelNames: ["outcome"], buckets: SECONDS, registers });
    this.#scopes = new Counter({ name: "regauth_scopes_total", help: "Requested scopes by what was granted: all actions, some, or none.", labelNames: ["result"], registers });
    this.#cache = new Counter({ name: "regauth_credential_cache_total", help: "Password logins answered from the verified-credential cache (hit) or checked by a method (miss).", labelNames: ["result"], registers });
    this.#backendCalls = new Counter({ name: "regauth_backend_calls_total", help: "Calls to authentication and authorization backends by result.", labelNames: ["backend", "result"], registers });
    this.#backendDuration = new Histogram({ name: "regauth_backend_call_duration_seconds", help: "Backend call latency.", labelNames: ["backend"], buckets: SECONDS, registers });
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
    this.#backendCalls.inc({ backend, result });
    this.#backendDuration.observe({ backend }, seconds);
  }

  /** The sink the token endpoint's events go to. */
  sink(): EventSink {
    return { token: (e) => this.#token(e) };
  }

  #token(e: TokenEvent): void {
    this.#requests.inc({ outcome: e.outcome, grant: e.grant ?? "none", authn: e.authn ?? "none" });
    this.#duration.observe({ outcome: e.outcome }, e.durationMs / 1000);
    // Anonymous requests (no account) are not logins: they never reach the cache.
    if (e.grant === "password" && e.account && e.authn !== undefined && e.cached !== undefined) this.#cache.inc({ result: e.cached ? "hit" : "miss" });
    // Scopes are decided only for an issued token; a refused login decides none.
    if (e.outcome !== "issued") return;
    const granted = e.granted ?? [];
    (e.requested ?? []).forEach((req, i) => {
      const wanted = actionCount(req);
      const got = granted[i] === undefined ? 0 : actionCount(granted[i]!);
      this.#scopes.inc({ result: got === 0 ? "denied" : got >= wanted ? "granted" : "partial" });
    });
  }
}

/** The actions of `type:name:a,b`, counted (names have no `:`; the actions come after the last). */
function actionCount(scope: string): number {
  const list = scope.slice(scope.lastIndexOf(":") + 1);
  return list === "" ? 0 : list.split(",").length;
}
