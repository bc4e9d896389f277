// A real browser for web sign-in tests: Debian's Chromium (apt-get install chromium), driven
// by playwright-core, which downloads nothing. Screenshots go to the run's artefacts.
import { access, mkdir, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";

export const CHROMIUM_BIN = process.env["REGAUTH_TEST_CHROMIUM"] ?? "/usr/bin/chromium";

/** Undefined when the browser can run here; otherwise why (and how to install it). */
export async function browserMissing(): Promise<string | undefined> {
  return access(CHROMIUM_BIN).then(
    () => undefined,
    () => `${CHROMIUM_BIN} missing: apt-get install -y chromium (or set REGAUTH_TEST_CHROMIUM)`,
  );
}

export function launchBrowser(): Promise<Browser> {
  // As root (CI) Chromium's sandbox cannot start; the pages are our own test servers.
  return chromium.launch({ executablePath: CHROMIUM_BIN, headless: true, args: ["--no-sandbox"] });
}

/** Where screenshots are kept: the run's artefacts when `npm test` set them, else a temp dir's. */
export async function screenshot(page: Page, name: string, fallbackDir: string): Promise<string> {
  const dir = join(process.env["REGAUTH_TEST_ARTIFACTS"] ?? fallbackDir, "screenshots");
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/**
 * The page checked by axe-core (WCAG 2.x A and AA rules: labels, contrast, names, landmarks).
 * Injected through the DevTools protocol, so the page's own strict CSP does not block it.
 */
export async function accessibilityViolations(page: Page): Promise<AxeViolation[]> {
  const source = await readFile(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Runtime.evaluate", { expression: source });
  const r = await cdp.send("Runtime.evaluate", {
    expression: `axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } }).then(r => JSON.stringify(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => ({ target: n.target })) }))))`,
    awaitPromise: true,
    returnByValue: true,
  });
  await cdp.detach();
  return JSON.parse((r as { result: { value: string } }).result.value) as AxeViolation[];
}
