// Putting a user-typed account name into LDAP filters and DNs safely, and reading DNs back.

/**
 * Escape a value for an LDAP search filter (RFC 4515 §3): `*`, `(`, `)`, `\` and NUL become
 * `\2a`, `\28`, `\29`, `\5c`, `\00`, so `*)(uid=*` is matched literally and can neither widen
 * the filter nor add terms. Other characters, non-ASCII included, are left as they are (the
 * filter is sent as UTF-8).
 */
export function escapeFilterValue(value: string): string {
  return value.replace(/[*()\\\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/**
 * Escape a value for one attribute value of a DN (RFC 4514 §2.4): `"`, `+`, `,`, `;`, `<`,
 * `=`, `>` and `\` get a backslash; NUL becomes `\00`; a leading space or `#` and a trailing
 * space are escaped. `admin,ou=x` stays one value: `admin\,ou\=x`.
 */
export function escapeDnValue(value: string): string {
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === "\0") out += "\\00";
    else if ('\\"+,;<=>'.includes(c)) out += `\\${c}`;
    else if ((c === " " && (i === 0 || i === value.length - 1)) || (c === "#" && i === 0)) out += `\\${c}`;
    else out += c;
  }
  return out;
}

/**
 * Replace every `${name}` in `template` with `values[name]` (once, left to right, like Go's
 * strings.Replacer that docker_auth uses); unknown `${...}` stay as written.
 */
export function fillTemplate(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\$\{(\w+)\}/g, (whole, name: string) => (Object.hasOwn(values, name) ? values[name]! : whole));
}

export interface DnAttribute {
  type: string;
  value: string;
}

/** One relative DN: usually one attribute, several for a multi-valued RDN (`cn=a+uid=b`). */
export type Rdn = DnAttribute[];

const HEX2 = /^[0-9a-fA-F]{2}$/;

/**
 * Parse a DN string (RFC 4514; `;` is also accepted between RDNs, as older servers write it)
 * into RDNs with unescaped values. Returns undefined when the string is not a DN.
 * A `#hex` (BER) value is kept as written.
 */
export function parseDn(dn: string): Rdn[] | undefined {
  const rdns: Rdn[] = [];
  if (dn.trim() === "") return rdns;
  let i = 0;
  const n = dn.length;
  let rdn: Rdn = [];
  for (;;) {
    // attribute type
    while (i < n && dn[i] === " ") i++;
    const start = i;
    while (i < n && dn[i] !== "=" && dn[i] !== "," && dn[i] !== ";" && dn[i] !== "+") i++;
    const type = dn.slice(start, i).trim();
    if (i >= n || dn[i] !== "=" || !/^([A-Za-z][A-Za-z0-9-]*|\d+(\.\d+)*)$/.test(type)) return undefined;
    i++; // '='
    while (i < n && dn[i] === " ") i++;
    // attribute value
    const bytes: number[] = [];
    const pushText = (s: string) => bytes.push(...Buffer.from(s, "utf8"));
    let trailingSpaces = 0; // unescaped spaces at the end are not part of the value
    if (dn[i] === "#") {
      const m = /^#[0-9a-fA-F]*/.exec(dn.slice(i))![0];
      pushText(m);
      i += m.length;
    } else if (dn[i] === '"') {
      // RFC 2253 quoted value (still seen in the wild)
      i++;
      while (i < n && dn[i] !== '"') {
        if (dn[i] === "\\" && i + 1 < n) {
          pushText(dn[i + 1]!);
          i += 2;
        } else {
          pushText(dn[i]!);
          i++;
        }
      }
      if (i >= n) return undefined;
      i++;
      while (i < n && dn[i] === " ") i++;
    } else {
      while (i < n && dn[i] !== "," && dn[i] !== ";" && dn[i] !== "+") {
        const c = dn[i]!;
        if (c === "\\") {
          const hex = dn.slice(i + 1, i + 3);
          if (HEX2.test(hex)) {
            bytes.push(parseInt(hex, 16));
            i += 3;
          } else if (i + 1 < n) {
            pushText(dn[i + 1]!);
            i += 2;
          } else return undefined;
          trailingSpaces = 0;
        } else {
          if (c === " ") trailingSpaces++;
          else trailingSpaces = 0;
          const cp = dn.codePointAt(i)!;
          const ch = String.fromCodePoint(cp);
          pushText(ch);
          i += ch.length;
        }
      }
      if (trailingSpaces) bytes.splice(bytes.length - trailingSpaces, trailingSpaces);
    }
    const value = new TextDecoder("utf-8", { fatal: false }).decode(Uint8Array.from(bytes));
    rdn.push({ type, value });
    if (i >= n) {
      rdns.push(rdn);
      return rdns;
    }
    const sep = dn[i];
    i++;
    if (sep === "+") continue;
    if (sep !== "," && sep !== ";") return undefined;
    rdns.push(rdn);
    rdn = [];
  }
}

/**
 * docker_auth's `parse_cn`: the value of the first `CN` attribute of a DN
 * (`cn=dev,ou=groups,dc=example,dc=org` → `dev`), or the value unchanged when it is not a DN
 * or has no CN.
 */
export function cnFromDn(value: string): string {
  const rdns = parseDn(value);
  for (const rdn of rdns ?? []) for (const a of rdn) if (a.type.toUpperCase() === "CN") return a.value;
  return value;
}
