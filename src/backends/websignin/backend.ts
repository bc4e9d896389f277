import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { BackendError, BadRequestError, InternalError, RegauthError, SignInRefusedError } from "../../errors.js";
import { sameProof } from "../../refresh/refresh-token.js";
import type { Backend, BackendServices } from "../backend.js";
import type { CommonSignInConfig } from "./common-section.js";
import { messagePage, resultPage, sendPage } from "./pages.js";
import { SignInPasswords } from "./passwords.js";
import type { FlowSecrets, WebSignInProvider } from "./provider.js";
import { Sealer } from "./seal.js";

/** How long a started sign-in may take at the provider before its state cookie is refused. */
const FLOW_MS = 10 * 60_000;
const COOKIE = "regauth_signin";
/** A Host header that can be part of a URL: a name or an address, an optional port. */
const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** What the state cookie holds, sealed: the attempt's secrets, whose they are, and until when. */
interface FlowCookie extends FlowSecrets {
  provider: string;
  expiresAt: number;
}

const b64 = (n: number) => randomBytes(n).toString("base64url");

function newFlow(redirectUri: string): FlowSecrets {
  const codeVerifier = b64(32);
  return { state: b64(24), nonce: b64(24), codeVerifier, codeChallenge: createHash("sha256").update(codeVerifier).digest("base64url"), redirectUri };
}

function readCookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The scheme the browser used: TLS here, or the proxy's word for it when TLS ends in front of us. */
function schemeOf(req: IncomingMessage): "http" | "https" {
  if ((req.socket as TLSSocket).encrypted) return "https";
  const fwd = req.headers["x-forwarded-proto"];
  return (Array.isArray(fwd) ? fwd[0] : fwd)?.split(",")[0]?.trim().toLowerCase() === "https" ? "https" : "http";
}

/**
 * The shared half of web sign-in for one provider: its route (start and callback on
 * docker_auth's path), the generated passwords in the token store, and the authenticator
 * `docker login` reaches.
 */
export async function webSignInBackend(provider: WebSignInProvider, common: CommonSignInConfig, services: BackendServices): Promise<Backend> {
  if (!services.store || !services.sealKey) throw new InternalError(`${provider.key} needs the token store and the signing key`);
  const log = services.log;
  const flows = new Sealer(services.sealKey, `sign-in state ${provider.key}`);
  const passwords = new SignInPasswords(provider, services.store.store, new Sealer(services.sealKey, `provider tokens ${provider.key}`), common.passwordLifetimeMs, log);

  function cookie(prefix: string, secure: boolean, value: string, maxAgeS: number): string {
    // Lax, not Strict: the provider sends the browser back with a cross-site top-level GET.
    return `${COOKIE}=${value}; Path=${prefix}${provider.path}; Max-Age=${maxAgeS}; HttpOnly; SameSite=Lax${secure ? "; Secure" : ""}`;
  }

  async function start(req: IncomingMessage, res: ServerResponse, prefix: string): Promise<void> {
    const scheme = schemeOf(req);
    let redirectUri = provider.redirectUri;
    if (!redirectUri) {
      const host = req.headers.host ?? "";
      if (!HOST.test(host)) throw new BadRequestError("the Host header is not a host name or address; set redirect_url in the config to sign in through a proxy that rewrites it");
      redirectUri = `${scheme}://${host}${prefix}${provider.path}`;
    }
    const flow = newFlow(redirectUri);
    let target: URL;
    try {
      target = await provider.authorizationUrl(flow);
    } catch (e) {
      log.warn({ backend: provider.key, reason: (e as Error).message }, "web sign-in could not start");
      return sendPage(res, 502, messagePage(prefix, "Sign-in is unavailable", `${provider.title} could not be reached. Try again in a moment.`, provider.path));
    }
    const sealed = flows.seal({ ...flow, provider: provider.key, expiresAt: Date.now() + FLOW_MS } satisfies FlowCookie);
    res.writeHead(303, { location: target.href, "set-cookie": cookie(prefix, scheme === "https", sealed, FLOW_MS / 1000), "cache-control": "no-store", "referrer-policy": "no-referrer" });
    res.end();
  }

  async function callback(req: IncomingMessage, res: ServerResponse, prefix: string, params: URLSearchParams): Promise<void> {
    const secure = schemeOf(req) === "https";
    // The attempt is over whatever happens next: its cookie goes, so a replayed callback finds none.
    const clear = { "set-cookie": cookie(prefix, secure, "", 0) };
    const refuse = (status: number, heading: string, message: string) => sendPage(res, status, messagePage(prefix, heading, message, provider.path), clear);
    const raw = readCookie(req, COOKIE);
    const flow = raw === undefined ? undefined : (flows.open(raw) as FlowCookie | undefined);
    if (!flow || flow.provider !== provider.key || flow.expiresAt < Date.now())
      return refuse(400, "This sign-in has expired", "This sign-in link was already used, has expired, or was started in another browser. Start again.");
    const providerError = params.get("error");
    if (providerError !== null) {
      const detail = params.get("error_description");
      log.info({ backend: provider.key, error: providerError.slice(0, 100) }, "web sign-in refused at the provider");
      return refuse(403, "Sign-in was not completed", `${provider.title} answered: ${providerError.slice(0, 100)}${detail ? ` (${detail.slice(0, 200)})` : ""}.`);
    }
    if (!sameProof(params.get("state") ?? "", flow.state)) {
      log.warn({ backend: provider.key }, "web sign-in callback with a state that does not match its cookie");
      return refuse(400, "This sign-in cannot be completed", "The answer from the provider does not belong to the sign-in this browser started. Start again.");
    }
    if (!params.get("code")) return refuse(400, "This sign-in cannot be completed", "The provider sent no authorization code. Start again.");
    try {
      const user = await provider.complete(params, flow);
      const { password, expiresAt } = await passwords.issue(user);
      log.info({ backend: provider.key, account: user.account }, "web sign-in: a docker login password was issued");
      sendPage(res, 200, resultPage(prefix, { account: user.account, password, registryUrl: provider.registryUrl, provider: provider.title, expiresAt, startPath: provider.path }), clear);
    } catch (e) {
      if (e instanceof SignInRefusedError) {
        log.info({ backend: provider.key, reason: e.message }, "web sign-in refused");
        return refuse(403, "You cannot sign in here", e.message);
      }
      const err = e instanceof RegauthError ? e : new BackendError(provider.key, (e as Error).message, { cause: e });
      log.warn({ backend: provider.key, reason: err.message }, "web sign-in failed");
      const publicMessage = err instanceof BackendError ? (err.publicMessage ?? `${provider.title} could not be reached or gave an answer regauth could not use.`) : "Something went wrong on the server.";
      return refuse(err instanceof BackendError ? 502 : 500, "Sign-in failed", `${publicMessage} Try again in a moment.`);
    }
  }

  return {
    authenticator: passwords,
    signIn: { title: provider.title, path: provider.path },
    routes: [
      {
        path: provider.path,
        methods: ["GET"],
        async handle(req, res, query, prefix) {
          const params = new URLSearchParams(query);
          if (params.has("code") || params.has("error") || params.has("state")) return callback(req, res, prefix, params);
          return start(req, res, prefix);
        },
      },
    ],
    stop: () => passwords.stop(),
  };
}
