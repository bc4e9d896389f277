import type { SectionDef } from "../section.js";
import { extAuthSection, extAuthzSection } from "./ext.js";
import { ldapAuthSection } from "./ldap-auth.js";
import { pluginAuthnSection, pluginAuthzSection } from "./plugin.js";

/** Backend sections regauth reads (implemented or not yet). */
export const SECTIONS: readonly SectionDef[] = [extAuthSection, ldapAuthSection, pluginAuthnSection, extAuthzSection, pluginAuthzSection];

/** docker_auth sections with no module here yet: refused with a message naming them. */
export const UNSUPPORTED_SECTIONS = ["google_auth", "github_auth", "oidc_auth", "gitlab_auth", "mongo_auth", "xorm_auth", "acl_mongo", "acl_xorm", "casbin_authz"] as const;
