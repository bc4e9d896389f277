/**
 * The V8 young generation regauth's launchers (`npm start`, `bin/regauth`, the container image)
 * and cluster workers run with.
 *
 * Each token request allocates tens of kilobytes that die with it. With V8's default 16 MB
 * semi-space, a core at 13,000 tokens/s scavenges every 30 ms, and what is in flight at that
 * moment (32 clients' requests, a batch of signatures) survives twice and is promoted; the
 * old generation then fills at about 20 MB/s and its marking steps (up to 20 ms) are the
 * p99. With 32 MB, on one core with every token new (`npm run bench`, distinct repos,
 * ES256): 10,000 → 13,200 tokens/s, p99 16.5 → 8 ms, and a lower peak RSS (200 against
 * 225 MB). 64 MB measured no better than 32. It can only be set when node starts, hence
 * the flag on every launcher rather than a config key.
 */
export const SEMI_SPACE_FLAG = "--max-semi-space-size=32";

const SETS_SEMI_SPACE = /(^|\s)--max[-_]semi[-_]space[-_]size(=|\s|$)/;

/**
 * A worker's node arguments: the primary's own, plus SEMI_SPACE_FLAG unless the operator chose
 * a size already (on the command line or in NODE_OPTIONS, which workers inherit).
 */
export function workerExecArgv(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const chosen = execArgv.some((a) => SETS_SEMI_SPACE.test(a)) || SETS_SEMI_SPACE.test(nodeOptions ?? "");
  return chosen ? [...execArgv] : [...execArgv, SEMI_SPACE_FLAG];
}
