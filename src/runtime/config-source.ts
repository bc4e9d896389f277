import { createHash } from "node:crypto";
import { unwatchFile, watchFile } from "node:fs";
import { stat } from "node:fs/promises";
import { parseConfig, readConfigText } from "../config/load.js";
import type { Config } from "../config/types.js";

export interface LoadedConfig {
  config: Config;
  /** The file's text, so that workers parse exactly what the primary validated. */
  text: string;
  /** The text and the state of every file it names: equal fingerprints need no rebuild. */
  fingerprint: string;
}

async function fingerprint(text: string, files: readonly string[]): Promise<string> {
  const h = createHash("sha256").update(text);
  for (const f of [...files].sort()) {
    const s = await stat(f).then((st) => `${st.size}:${st.mtimeMs}:${st.ino}`, () => "missing");
    h.update(`\0${f}\0${s}`);
  }
  return h.digest("hex");
}

/** Read and validate a config file. */
export async function loadConfigText(file: string): Promise<LoadedConfig> {
  const text = await readConfigText(file);
  const config = await parseConfig(file, text);
  return { config, text, fingerprint: await fingerprint(text, config.files) };
}

/**
 * The config file and the reasons to reload it: SIGHUP, and the file (or a key,
 * certificate or secret it names) changing on disk. Triggers that arrive while a
 * reload runs are folded into one more, and a reload whose text and files are
 * exactly what is running is skipped: one edit, however it is signalled, is one rebuild.
 */
export class ConfigSource {
  #current: string;
  /** Why the config on disk, which is not the running one, could not be applied. */
  #failure: Error | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #watched: string[] = [];

  constructor(
    readonly file: string,
    loaded: LoadedConfig,
    private readonly apply: (next: LoadedConfig, why: string) => Promise<void>,
    private readonly report: (outcome: { ok: true; why: string; skipped?: boolean } | { ok: false; why: string; error: Error }) => void,
    private readonly pollMs = 1000,
  ) {
    this.#current = loaded.fingerprint;
    this.#watch(loaded.config);
  }

  /** Ask for a reload; resolves when it (or the one it was folded into) is done. */
  trigger(why: string): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        await this.#once(why);
      } while (this.#again);
      this.#running = undefined;
    })();
    return this.#running;
  }

  async #once(why: string): Promise<void> {
    let next: LoadedConfig;
    try {
      next = await loadConfigText(this.file);
    } catch (e) {
      // Whatever loads next, even the running config's own text again, is applied.
      this.#current = "";
      this.#failure = undefined;
      return this.report({ ok: false, why, error: e as Error });
    }
    if (next.fingerprint === this.#current) {
      if (this.#failure) return this.report({ ok: false, why, error: this.#failure });
      return this.report({ ok: true, why, skipped: true });
    }
    try {
      await this.apply(next, why);
    } catch (e) {
      // Remember the failed attempt too: the same broken file is not retried on every poll.
      this.#current = next.fingerprint;
      this.#failure = e as Error;
      return this.report({ ok: false, why, error: e as Error });
    }
    this.#current = next.fingerprint;
    this.#failure = undefined;
    this.#watch(next.config);
    this.report({ ok: true, why });
  }

  #watch(config: Config): void {
    const want = [this.file, ...config.files];
    for (const f of this.#watched) if (!want.includes(f)) unwatchFile(f);
    for (const f of want)
      if (!this.#watched.includes(f)) watchFile(f, { interval: this.pollMs, persistent: false }, (cur, prev) => {
        if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size || cur.ino !== prev.ino) void this.trigger(`${f} changed`);
      });
    this.#watched = want;
  }

  close(): void {
    for (const f of this.#watched) unwatchFile(f);
    this.#watched = [];
  }
}
