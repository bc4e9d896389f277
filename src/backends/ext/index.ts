import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { authenticatorBackend, authorizerBackend, type BackendHealth, type BackendModule } from "../backend.js";
import { createExtAuthenticator } from "./authenticator.js";
import { createExtAuthorizer } from "./authorizer.js";
import { buildExtAuth, buildProgram, extAuthShape, extAuthzShape, type ExtAuthConfig, type ExtAuthzConfig, type ExtProgramConfig, type RawExtAuth, type RawProgram } from "./section.js";

/** Readiness: the program found at load is still there and executable (a deploy may have removed it). */
function programHealth(c: ExtProgramConfig): () => Promise<BackendHealth> {
  return () =>
    access(c.path, constants.X_OK).then(
      () => ({ ok: true }),
      (e: NodeJS.ErrnoException) => ({ ok: false, detail: `${c.path} cannot be run: ${e.code ?? e.message}` }),
    );
}

/** ext_auth: a program reads `user password` and answers with its exit code (docker_auth's contract). */
export const extAuthBackend: BackendModule<RawExtAuth, ExtAuthConfig> = {
  key: "ext_auth",
  role: "authn",
  shape: extAuthShape,
  build: buildExtAuth,
  create: async (config, services) => authenticatorBackend(await createExtAuthenticator(config, services), { health: programHealth(config) }),
};

/** ext_authz: a program reads the request as JSON and answers with its exit code. */
export const extAuthzBackend: BackendModule<RawProgram, ExtAuthzConfig> = {
  key: "ext_authz",
  role: "authz",
  shape: extAuthzShape,
  build: (raw, ctx) => buildProgram("ext_authz", raw, ctx),
  create: async (config, services) => authorizerBackend(await createExtAuthorizer(config, services), { health: programHealth(config) }),
};
