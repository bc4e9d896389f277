import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { compileFunction } from "node:vm";
import { InternalError } from "../errors.js";

/**
 * The RE2 engine behind the regexes V8 cannot run as Go would (those that could
 * backtrack exponentially, mid-pattern case-insensitive flags, ...): re2-wasm's
 * WebAssembly build of RE2, loaded here through its emscripten glue so that
 *
 * - nothing it prints reaches stdout or stderr (`print`/`printErr` go to a small
 *   in-memory log, quoted in PatternEngineError messages);
 * - its fixed 16 MiB heap (the module declares that maximum; it cannot grow) is
 *   managed: every compiled program is interned by source and reference counted,
 *   freed (`delete()`) when its last user lets go, and before each compilation the
 *   heap must have HEADROOM bytes free, else the dynamic-pattern cache is asked to
 *   evict (see `setMemoryPressureHandler`);
 * - a failure inside the engine (out of memory, an abort) never poisons it for good:
 *   the instance is dropped, a fresh one is made, and programs recompile on their
 *   next use. The failing call is retried once on the fresh instance; if it still
 *   fails, a PatternEngineError is thrown (a 5xx for the request, never a "no match").
 */

/** The regex engine failed (out of memory, an internal limit): not the pattern's fault, never a "no match". */
export class PatternEngineError extends InternalError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PatternEngineError";
  }
}

/** RE2 refused a pattern that our Go-syntax validator accepted (for example one too large for RE2's memory budget). */
export class Re2CompileError extends PatternEngineError {}

interface NativeMatch {
  match: string;
  index: number;
  groups: (string | undefined)[];
}

interface NativeRE2 {
  ok(): boolean;
  error(): string;
  match(input: string, start: number, captureGroups: boolean): NativeMatch;
  delete(): void;
}

interface EmscriptenModule {
  WrappedRE2: new (pattern: string, ignoreCase: boolean, multiline: boolean, dotAll: boolean) => NativeRE2;
  _malloc(size: number): number;
  _free(ptr: number): void;
}

type Imports = Record<string, Record<string, unknown>>;
type WasmModule = object;
interface WasmInstance {
  exports: unknown;
}
/** The few WebAssembly JS API members used here (this project's lib settings do not declare them). */
const Wasm = (globalThis as unknown as { WebAssembly: { Module: new (bytes: Uint8Array) => WasmModule; Instance: new (module: WasmModule, imports: Imports) => WasmInstance } }).WebAssembly;

/** Bytes that must be allocatable in one block before RE2 compiles a program. */
const HEADROOM = 1 << 20;
/** The glue's messages kept for error reports. */
const LOG_MAX = 8;
/** How long a pattern RE2 could not compile is answered with the same error without retrying. */
const FAILURE_TTL_MS = 60_000;
const FAILURES_MAX = 256;

interface Glue {
  run: (...args: unknown[]) => unknown;
  file: string;
  wasm: WasmModule;
}

let glue: Glue | undefined;

function loadGlue(): Glue {
  if (glue) return glue;
  const req = createRequire(import.meta.url);
  const file = req.resolve("re2-wasm/build/wasm/re2.js");
  // The glue starts `var Module = typeof Module !== 'undefined' ? Module : {}`: run as a
  // function with a `Module` parameter, it takes our settings (emscripten's documented way).
  const run = compileFunction(readFileSync(file, "utf8"), ["exports", "require", "module", "__filename", "__dirname", "Module"], { filename: file }) as Glue["run"];
  const wasm = new Wasm.Module(readFileSync(join(dirname(file), "re2.wasm")));
  glue = { run, file, wasm };
  return glue;
}

class OutOfMemory extends Error {}

/** One WebAssembly instance of RE2. */
class Instance {
  readonly M: EmscriptenModule;
  readonly log: string[] = [];
  dead = false;
  /** While true, a failed heap growth makes malloc return 0 instead of failing the instance. */
  #probing = false;

  constructor() {
    const g = loadGlue();
    const note = (...parts: unknown[]) => {
      this.log.push(parts.map(String).join(" ").slice(0, 300));
      if (this.log.length > LOG_MAX) this.log.shift();
    };
    const settings = {
      print: note,
      printErr: note,
      onAbort: (what: unknown) => {
        this.dead = true;
        note(`abort: ${String(what)}`);
      },
      instantiateWasm: (imports: Imports, receive: (instance: WasmInstance, module: WasmModule) => void) => {
        // The heap cannot grow (the module declares 16 MiB as its maximum). Out of
        // memory, sbrk asks to grow: fail that call loudly (the instance is then
        // dropped), except while probing for free space, where malloc may return 0.
        const patched: Imports = {};
        for (const [name, mod] of Object.entries(imports)) {
          patched[name] = "emscripten_resize_heap" in mod
            ? {
                ...mod,
                emscripten_resize_heap: () => {
                  if (this.#probing) return 0;
                  this.dead = true;
                  throw new OutOfMemory("RE2's WebAssembly heap is full");
                },
              }
            : mod;
        }
        const instance = new Wasm.Instance(g.wasm, patched);
        receive(instance, g.wasm);
        return instance.exports;
      },
    };
    const mod = { exports: {} as unknown };
    g.run.call(mod.exports, mod.exports, createRequire(g.file), mod, g.file, dirname(g.file), settings);
    this.M = mod.exports as EmscriptenModule;
    if (typeof this.M.WrappedRE2 !== "function") throw new PatternEngineError(`cannot start the RE2 engine: ${this.log.join("; ") || "no WrappedRE2 export"}`);
  }

  /** Can `bytes` be allocated in one block right now? */
  hasFree(bytes: number): boolean {
    this.#probing = true;
    try {
      const p = this.M._malloc(bytes);
      if (p === 0) return false;
      this.M._free(p);
      return true;
    } finally {
      this.#probing = false;
    }
  }

  /** The largest block that can be allocated now (a binary search of malloc probes). */
  largestFreeBlock(): number {
    let lo = 0;
    let hi = 16 << 20;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.hasFree(mid)) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  describe(e: unknown): string {
    const last = this.log.length ? ` (${this.log[this.log.length - 1]})` : "";
    return `${e instanceof Error ? e.message : String(e)}`.split("\n")[0]!.slice(0, 200) + last;
  }
}

let current: Instance | undefined;
let generation = 0;
let recycles = 0;
let pressureHandler: (() => boolean) | undefined;
/** Interned programs by RE2 source. */
const programs = new Map<string, Re2Program>();
/** Sources RE2 recently failed to compile: the error is repeated, not retried, for a while. */
const failures = new Map<string, { message: string; until: number }>();

function instance(): Instance {
  if (current?.dead) recycle(current);
  if (!current) {
    current = new Instance();
    generation++;
  }
  return current;
}

const recycled = new WeakSet<Instance>();

/** Drop a failed instance: every program recompiles on a fresh one at its next use. */
function recycle(dead: Instance): void {
  dead.dead = true;
  if (current === dead) current = undefined;
  if (recycled.has(dead)) return;
  recycled.add(dead);
  recycles++;
  for (const p of programs.values()) p.forget(dead);
}

/**
 * Called before a compilation when the heap is short of HEADROOM; should free
 * some programs (the dynamic-pattern cache evicts its least recently used RE2
 * entries) and return whether it released anything.
 */
export function setMemoryPressureHandler(handler: (() => boolean) | undefined): void {
  pressureHandler = handler;
}

/** A compiled RE2 program shared by every matcher of the same source. */
class Re2Program {
  refs = 0;
  #native: NativeRE2 | undefined;
  #owner: Instance | undefined;
  /** Inside a compile or match: a release then (memory pressure evicting this very program) frees it afterwards. */
  #busy = 0;
  #freeLater = false;

  constructor(readonly source: string) {}

  /** The native program on the live instance, compiling it there if needed. */
  #ensure(): NativeRE2 {
    const inst = instance();
    if (this.#owner === inst && this.#native) return this.#native;
    this.#native = undefined;
    this.#owner = undefined;
    const failed = failures.get(this.source);
    if (failed && failed.until > Date.now()) throw new PatternEngineError(failed.message);
    if (failed) failures.delete(this.source);
    for (let attempt = 0; ; attempt++) {
      const inst = instance();
      try {
        this.#native = compileOn(inst, this.source);
        this.#owner = inst;
        return this.#native;
      } catch (e) {
        if (e instanceof Re2CompileError) throw e; // quick and deterministic: nothing to remember
        const message = `the RE2 engine failed compiling /${this.source.slice(0, 80)}/: ${inst.describe(e)}`;
        recycle(inst);
        if (attempt >= 1) {
          remember(this.source, message);
          throw new PatternEngineError(message, { cause: e });
        }
      }
    }
  }

  /** Compile now (on load), so that errors surface where the pattern is defined. */
  prepare(): void {
    this.#busy++;
    try {
      this.#ensure();
    } finally {
      this.#settle();
    }
  }

  match(s: string, groups: boolean): NativeMatch {
    this.#busy++;
    try {
      for (let attempt = 0; ; attempt++) {
        const owner = this.#owner;
        const native = owner !== undefined && owner === current && !owner.dead ? this.#native! : this.#ensure();
        try {
          return native.match(s, 0, groups);
        } catch (e) {
          // Matching can allocate (RE2's DFA cache); out of memory there, start afresh and retry once.
          const dead = this.#owner!;
          const message = `the RE2 engine failed matching /${this.source.slice(0, 80)}/: ${dead.describe(e)}`;
          recycle(dead);
          if (attempt >= 1) throw new PatternEngineError(message, { cause: e });
        }
      }
    } finally {
      this.#settle();
    }
  }

  #settle(): void {
    if (--this.#busy === 0 && this.#freeLater) {
      this.#freeLater = false;
      this.free();
    }
  }

  /** The instance died: its objects went with it. */
  forget(dead: Instance): void {
    if (this.#owner === dead) {
      this.#native = undefined;
      this.#owner = undefined;
    }
  }

  free(): void {
    if (this.#busy > 0) {
      this.#freeLater = true;
      return;
    }
    if (this.#native && this.#owner && !this.#owner.dead) this.#native.delete();
    this.#native = undefined;
    this.#owner = undefined;
  }

  get compiled(): boolean {
    const owner = this.#owner;
    return this.#native !== undefined && owner !== undefined && owner === current && !owner.dead;
  }
}

function remember(source: string, message: string): void {
  if (failures.size >= FAILURES_MAX) failures.delete(failures.keys().next().value!);
  failures.set(source, { message, until: Date.now() + FAILURE_TTL_MS });
}

function compileOn(inst: Instance, source: string): NativeRE2 {
  if (!inst.hasFree(HEADROOM)) {
    while (pressureHandler?.() && !inst.hasFree(HEADROOM)) {
      // evicted some programs; try again
    }
  }
  const native = new inst.M.WrappedRE2(source, false, false, false);
  if (!native.ok()) {
    const why = native.error();
    native.delete();
    throw new Re2CompileError(`RE2 cannot compile /${source.slice(0, 80)}/: ${why}`);
  }
  return native;
}

function acquire(source: string): Re2Program {
  let p = programs.get(source);
  if (!p) {
    p = new Re2Program(source);
    p.prepare(); // throws before the program is interned
    programs.set(source, p);
  }
  p.refs++;
  return p;
}

function release(p: Re2Program): void {
  if (--p.refs > 0) return;
  if (programs.get(p.source) === p) programs.delete(p.source);
  p.free();
}

/** Matchers collected without `dispose()` still give their program back. */
const finalizer = new FinalizationRegistry<Re2Program>(release);

/**
 * A RegExp-like matcher running on RE2. Holds one reference to the interned
 * program of its source; `dispose()` gives it back (after that, a use takes a
 * new reference, so a late caller still gets a right answer).
 */
export class Re2Matcher {
  readonly source: string;
  #program: Re2Program | undefined;

  /** `source` is canonical RE2 syntax (see translateRe2); throws PatternEngineError if RE2 cannot compile it. */
  constructor(source: string) {
    this.source = source;
    this.#program = this.#take();
  }

  #take(): Re2Program {
    const p = acquire(this.source);
    finalizer.register(this, p, this);
    return p;
  }

  test(s: string): boolean {
    return (this.#program ??= this.#take()).match(s, false).index >= 0;
  }

  exec(s: string): RegExpExecArray | null {
    const m = (this.#program ??= this.#take()).match(s, true);
    if (m.index < 0) return null;
    const out = [m.match, ...m.groups] as unknown as RegExpExecArray;
    // RE2 counts code points; JS strings index UTF-16 units.
    let index = 0;
    for (let cp = 0; cp < m.index; cp++) index += s.codePointAt(index)! > 0xffff ? 2 : 1;
    out.index = index;
    out.input = s;
    return out;
  }

  dispose(): void {
    if (!this.#program) return;
    finalizer.unregister(this);
    const p = this.#program;
    this.#program = undefined;
    release(p);
  }
}

/** What the engine holds, for tests and diagnostics. */
export function re2EngineStats(): { programs: number; compiled: number; generation: number; recycles: number; largestFreeBlock: number } {
  let compiled = 0;
  for (const p of programs.values()) if (p.compiled) compiled++;
  const inst = instance();
  return { programs: programs.size, compiled, generation, recycles, largestFreeBlock: inst.largestFreeBlock() };
}

/** Messages the engine printed (kept, never written to stderr). */
export function re2EngineLog(): readonly string[] {
  return current ? [...current.log] : [];
}
