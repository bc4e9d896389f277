import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { z } from "zod";
import type { Authenticator } from "../authn/authenticator.js";
import type { RefusalCost } from "../authn/refusal-cost.js";
import type { Authorizer } from "../authz/authorizer.js";
import type { SectionContext } from "../config/section.js";
import type { ConfigLocation } from "../errors.js";
import type { Logger } from "../log.js";
import type { TokenStore } from "../stores/token-store.js";

/** What a backend is asked to provide: authentication (users) or authorization (access). */
export type BackendRole = "authn" | "authz";

/**
 * What a backend gets from the server besides its own section: nothing else of the
 * config reaches it, so that its instance can be reused across reloads whenever these
 * and its section are unchanged.
 */
export interface BackendServices {
  /** The server's logger (backends name themselves in their lines, `backend: <key>`). */
  log: Logger;
  /** Where a key of its section is written, for errors found while starting. */
  where(path: readonly (string | number)[]): ConfigLocation;
  /** The config file, for messages and for plugins that read files beside it. */
  configFile: string;
  /** The bcrypt cost a refusal must spend so that it tells nothing by its timing. */
  refusal: RefusalCost;
  /** Whether an authentication method comes after this one: an unknown user is then passed on. */
  laterMethods: boolean;
  /** The most entries any per-backend cache may hold (`credential_cache.max_entries`). */
  maxCacheEntries: number;
  /** `acl_options.label_values: literal`, for ACLs a backend reads from elsewhere (a database). */
  literalLabelValues: boolean;
  /**
   * The token store (web sign-in keeps its generated passwords there), and what identifies
   * it. Absent where nothing is served (`regauth explain`).
   */
  store?: { store: TokenStore; identity: string };
  /**
   * 32 bytes derived from the token signing key, so the same on every replica that shares the
   * key: seals web sign-in's state cookies and the provider tokens it stores.
   */
  sealKey?: Buffer;
}

/** The services' values that shape an instance: part of its identity for reuse. */
export function servicesIdentity(s: BackendServices): string {
  return JSON.stringify({ file: s.configFile, cost: s.refusal.cost, bcrypt: s.refusal.bcryptInUse, later: s.laterMethods, max: s.maxCacheEntries, literal: s.literalLabelValues, store: s.store?.identity, seal: s.sealKey ? createHash("sha256").update(s.sealKey).digest("hex") : undefined });
}

/** A backend's answer to a readiness check. */
export interface BackendHealth {
  ok: boolean;
  /** What a human operator should know (an unreachable server, a missing program). */
  detail?: string;
}

/** An HTTP route a backend serves under `server.path_prefix` (a web sign-in's callback, say). */
export interface BackendRoute {
  path: string;
  methods: readonly string[];
  /** `prefix`: `server.path_prefix`, for links and cookie paths. */
  handle(req: IncomingMessage, res: ServerResponse, query: string, prefix: string): Promise<void>;
}

/** A started backend: what it provides to the chains, its routes, its health. */
export interface Backend {
  authenticator?: Authenticator;
  authorizer?: Authorizer;
  routes?: readonly BackendRoute[];
  /** A web sign-in: listed on the sign-in page at `{path_prefix}/`. */
  signIn?: { title: string; path: string };
  health?(): Promise<BackendHealth>;
  stop(): Promise<void>;
}

/**
 * One backend, whole: its config section (schema and how it becomes a typed object) and
 * its factory. Listed once in registry.ts; config loading and the app both read that list.
 */
export interface BackendModule<Raw = any, Cfg = any> {
  /** The top-level YAML key (`ldap_auth`, `ext_authz`, ...). */
  key: string;
  role: BackendRole;
  /** The zod shape of the section's mapping (read strictly: unknown keys are errors). */
  shape: z.ZodRawShape;
  /** Shapes of nested mappings, by path inside the section (e.g. "labels.*"), for typo suggestions. */
  nestedShapes?: Record<string, z.ZodRawShape>;
  /** Validated YAML → typed config; problems go to `ctx.add` with their key. */
  build(raw: Raw, ctx: SectionContext): Promise<Cfg> | Cfg;
  create(config: Cfg, services: BackendServices): Promise<Backend>;
}


/** A Backend that is only an authenticator (most are). */
export function authenticatorBackend(a: Authenticator, extra: Omit<Backend, "authenticator" | "stop"> = {}): Backend {
  return { ...extra, authenticator: a, stop: () => a.stop() };
}

/** A Backend that is only an authorizer. */
export function authorizerBackend(a: Authorizer, extra: Omit<Backend, "authorizer" | "stop"> = {}): Backend {
  return { ...extra, authorizer: a, stop: () => a.stop() };
}
