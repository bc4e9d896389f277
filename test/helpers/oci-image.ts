// Build and inspect OCI image layout directories without a container engine, so the
// end-to-end tests can push real images with skopeo and check what comes back.
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { gunzip, gzip } from "node:zlib";

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

export const OCI_MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json";
export const OCI_CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json";
export const OCI_LAYER_GZIP_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip";
export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";

export interface BuildOciImageOptions {
  /** Files of the single layer, path -> content. Default: one small file with random content. */
  files?: Record<string, string | Buffer>;
  /** Add a file of this many random bytes; random data does not compress, so the layer is about this big. */
  layerBytes?: number;
  /** mtime (seconds since epoch) written into the tar headers. Default 0, for reproducible layers. */
  mtime?: number;
  /** gzip level 0-9. Default: 0 (stored) when layerBytes exceeds 1 MiB, else zlib's default. */
  gzipLevel?: number;
}

export interface OciImage {
  dir: string;
  tag: string;
  manifestDigest: string;
  configDigest: string;
  /** Digests of the compressed layer blobs, in manifest order. */
  layerDigests: string[];
  /** sha256 of the uncompressed layer tars (config rootfs.diff_ids). */
  diffIds: string[];
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

interface OciIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

interface OciManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

function sha256Hex(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

function digestOf(data: Buffer | string): string {
  return `sha256:${sha256Hex(data)}`;
}

// ---------------------------------------------------------------------------
// ustar writer

const BLOCK = 512;

/** Write `value` as zero-padded octal filling `width - 1` digits plus a NUL terminator. */
function writeOctal(header: Buffer, offset: number, width: number, value: number, field: string): void {
  const digits = value.toString(8);
  if (digits.length > width - 1) {
    throw new Error(`tar: ${field} ${value} does not fit in a ${width}-byte ustar field`);
  }
  header.write(digits.padStart(width - 1, "0"), offset, width - 1, "ascii");
  header[offset + width - 1] = 0;
}

function writeString(header: Buffer, offset: number, width: number, value: string, field: string): void {
  const bytes = Buffer.from(value, "utf8");
  if (bytes.length > width) {
    throw new Error(`tar: ${field} "${value}" is longer than ${width} bytes`);
  }
  bytes.copy(header, offset);
}

/**
 * ustar keeps long paths as prefix (155 bytes) + "/" + name (100 bytes); split at a
 * slash so both halves fit, because we do not implement pax extended headers.
 */
function splitPath(path: string): { name: string; prefix: string } {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: "" };
  // A trailing slash (directory entry) must stay in the name part.
  for (let i = path.length - 1; i > 0; i--) {
    if (path[i] !== "/" || i === path.length - 1) continue;
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name.length > 0) {
      return { name, prefix };
    }
  }
  throw new Error(`tar: path too long for ustar: ${path}`);
}

function tarHeader(path: string, type: "file" | "dir", size: number, mtime: number): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  const { name, prefix } = splitPath(path);
  writeString(h, 0, 100, name, "name");
  writeOctal(h, 100, 8, type === "dir" ? 0o755 : 0o644, "mode");
  writeOctal(h, 108, 8, 0, "uid");
  writeOctal(h, 116, 8, 0, "gid");
  writeOctal(h, 124, 12, size, "size");
  writeOctal(h, 136, 12, mtime, "mtime");
  h.write("        ", 148, 8, "ascii"); // checksum is computed with its own field as spaces
  h.write(type === "dir" ? "5" : "0", 156, 1, "ascii");
  h.write("ustar\0", 257, 6, "ascii"); // POSIX ustar magic + version "00"
  h.write("00", 263, 2, "ascii");
  writeString(h, 265, 32, "root", "uname");
  writeString(h, 297, 32, "root", "gname");
  writeOctal(h, 329, 8, 0, "devmajor");
  writeOctal(h, 337, 8, 0, "devminor");
  writeString(h, 345, 155, prefix, "prefix");
  let sum = 0;
  for (const byte of h) sum += byte;
  // Conventional form: six octal digits, NUL, space.
  h.write(sum.toString(8).padStart(6, "0"), 148, 6, "ascii");
  h[154] = 0;
  h[155] = 0x20;
  return h;
}

function normalizeTarPath(p: string): string {
  const parts = p.split("/").filter((s) => s !== "" && s !== ".");
  if (parts.length === 0 || parts.includes("..")) {
    throw new Error(`tar: invalid path ${JSON.stringify(p)}`);
  }
  return parts.join("/");
}

/**
 * Build an uncompressed POSIX ustar archive. Parent directories get their own entries
 * (before their contents) because some unpackers do not create missing parents.
 */
export function createTar(files: Record<string, string | Buffer>, mtime = 0): Buffer {
  const chunks: Buffer[] = [];
  const seenDirs = new Set<string>();
  for (const [rawPath, content] of Object.entries(files)) {
    const path = normalizeTarPath(rawPath);
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (seenDirs.has(dir)) continue;
      seenDirs.add(dir);
      chunks.push(tarHeader(`${dir}/`, "dir", 0, mtime));
    }
    const data = typeof content === "string" ? Buffer.from(content, "utf8") : content;
    chunks.push(tarHeader(path, "file", data.length, mtime));
    chunks.push(data);
    const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (pad > 0) chunks.push(Buffer.alloc(pad, 0));
  }
  chunks.push(Buffer.alloc(BLOCK * 2, 0)); // end-of-archive marker
  return Buffer.concat(chunks);
}

// ---------------------------------------------------------------------------
// OCI layout writer

async function writeBlob(dir: string, data: Buffer | string): Promise<Descriptor & { hex: string }> {
  const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const hex = sha256Hex(buf);
  await writeFile(join(dir, "blobs", "sha256", hex), buf);
  return { mediaType: "", digest: `sha256:${hex}`, size: buf.length, hex };
}

async function readIndex(dir: string): Promise<OciIndex | null> {
  try {
    return JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as OciIndex;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

/**
 * Write a single-layer linux/amd64 image into the OCI layout at `dir` (created if needed)
 * under `tag`. An existing layout is extended, and an existing entry for the same tag
 * is replaced, so several tags can share one directory.
 */
export async function buildOciImage(dir: string, tag: string, opts: BuildOciImageOptions = {}): Promise<OciImage> {
  const files: Record<string, string | Buffer> = { ...(opts.files ?? {}) };
  if (opts.files === undefined) {
    // Random content makes every image (and so every blob digest) unique, which keeps
    // tests independent even though registry storage and skopeo's blob cache are shared.
    files["regauth-test/id.txt"] = `${tag} ${randomBytes(16).toString("hex")}\n`;
  }
  if (opts.layerBytes !== undefined && opts.layerBytes > 0) {
    files["regauth-test/random.bin"] = randomBytes(opts.layerBytes);
  }

  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });

  const tar = createTar(files, opts.mtime ?? 0);
  const diffId = digestOf(tar);
  // Random payloads do not compress, so for big layers "stored" gzip costs no space and
  // is about ten times faster than deflating (0.1 s instead of 1 s for 50 MiB).
  const level = opts.gzipLevel ?? ((opts.layerBytes ?? 0) > 1024 * 1024 ? 0 : -1);
  const layer = await writeBlob(dir, await gzipAsync(tar, { level }));

  const config = {
    architecture: "amd64",
    os: "linux",
    config: {},
    rootfs: { type: "layers", diff_ids: [diffId] },
    history: [{ created_by: "regauth test harness", comment: tag }],
  };
  const configBlob = await writeBlob(dir, JSON.stringify(config));

  const manifest: OciManifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST_MEDIA_TYPE,
    config: { mediaType: OCI_CONFIG_MEDIA_TYPE, digest: configBlob.digest, size: configBlob.size },
    layers: [{ mediaType: OCI_LAYER_GZIP_MEDIA_TYPE, digest: layer.digest, size: layer.size }],
  };
  const manifestBlob = await writeBlob(dir, JSON.stringify(manifest));

  const existing = await readIndex(dir);
  const others = (existing?.manifests ?? []).filter((d) => d.annotations?.[REF_NAME_ANNOTATION] !== tag);
  const index: OciIndex = {
    schemaVersion: 2,
    mediaType: OCI_INDEX_MEDIA_TYPE,
    manifests: [
      ...others,
      {
        mediaType: OCI_MANIFEST_MEDIA_TYPE,
        digest: manifestBlob.digest,
        size: manifestBlob.size,
        annotations: { [REF_NAME_ANNOTATION]: tag },
      },
    ],
  };
  await writeFile(join(dir, "index.json"), JSON.stringify(index));
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));

  return {
    dir,
    tag,
    manifestDigest: manifestBlob.digest,
    configDigest: configBlob.digest,
    layerDigests: [layer.digest],
    diffIds: [diffId],
  };
}

// ---------------------------------------------------------------------------
// OCI layout reader / comparison

export interface OciImageSummary {
  manifestDigest: string;
  manifestMediaType: string | undefined;
  configDigest: string;
  layerDigests: string[];
  layerMediaTypes: string[];
  /** sha256 of each layer after decompression; equals the config's diff_ids when the image is sound. */
  uncompressedLayerDigests: string[];
  diffIds: string[];
  architecture: string | undefined;
  os: string | undefined;
}

function blobPath(dir: string, digest: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!m) throw new Error(`unsupported digest ${digest}`);
  return join(dir, "blobs", "sha256", m[1]!);
}

/** Read a blob and check that its bytes hash to its name and match the descriptor's size. */
async function readVerifiedBlob(dir: string, desc: Descriptor): Promise<Buffer> {
  const data = await readFile(blobPath(dir, desc.digest));
  const actual = digestOf(data);
  if (actual !== desc.digest) throw new Error(`${dir}: blob ${desc.digest} hashes to ${actual}`);
  if (data.length !== desc.size) {
    throw new Error(`${dir}: blob ${desc.digest} is ${data.length} bytes, descriptor says ${desc.size}`);
  }
  return data;
}

async function uncompressedDigest(mediaType: string, data: Buffer): Promise<string> {
  if (mediaType.endsWith("+gzip") || mediaType.endsWith(".gzip")) return digestOf(await gunzipAsync(data));
  if (mediaType.endsWith(".tar")) return digestOf(data);
  // zstd or unknown: node has no zstd decoder in v20, so report the compressed digest.
  return `unverified:${digestOf(data)}`;
}

/**
 * Read the image tagged `tag` from an OCI layout, verifying every blob it references
 * (hash, size, and decompressed layer against rootfs.diff_ids). Throws on any corruption.
 */
export async function readOciImage(dir: string, tag: string): Promise<OciImageSummary> {
  const index = await readIndex(dir);
  if (index === null) throw new Error(`${dir}: no index.json`);
  const entry = index.manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === tag);
  if (!entry) throw new Error(`${dir}: no manifest tagged ${tag}`);
  const manifest = JSON.parse((await readVerifiedBlob(dir, entry)).toString("utf8")) as OciManifest;
  const config = JSON.parse((await readVerifiedBlob(dir, manifest.config)).toString("utf8")) as {
    architecture?: string;
    os?: string;
    rootfs?: { diff_ids?: string[] };
  };
  const uncompressed: string[] = [];
  for (const layer of manifest.layers) {
    uncompressed.push(await uncompressedDigest(layer.mediaType, await readVerifiedBlob(dir, layer)));
  }
  const diffIds = config.rootfs?.diff_ids ?? [];
  uncompressed.forEach((u, i) => {
    if (!u.startsWith("unverified:") && u !== diffIds[i]) {
      throw new Error(`${dir}: layer ${i} decompresses to ${u}, config diff_id is ${diffIds[i]}`);
    }
  });
  return {
    manifestDigest: entry.digest,
    manifestMediaType: manifest.mediaType ?? entry.mediaType,
    configDigest: manifest.config.digest,
    layerDigests: manifest.layers.map((l) => l.digest),
    layerMediaTypes: manifest.layers.map((l) => l.mediaType),
    uncompressedLayerDigests: uncompressed,
    diffIds,
    architecture: config.architecture,
    os: config.os,
  };
}

export interface OciCompareResult {
  /** Same config blob and the same layer blobs in the same order: what a user would call "the same image". */
  same: boolean;
  /** Byte-identical manifest as well (stricter; a copy tool may legitimately rewrite the manifest). */
  sameManifest: boolean;
  /** Human-readable reasons when `same` is false (or the manifests differ), for assertion messages. */
  differences: string[];
  a: OciImageSummary;
  b: OciImageSummary;
}

/**
 * Compare the image tagged `tag` in layout `a` with the one tagged `tagB` (default: same
 * tag) in layout `b`. Both layouts are fully verified first, so a truncated or corrupted
 * pull throws rather than comparing equal.
 */
export async function compareOciDirs(a: string, b: string, tag: string, tagB: string = tag): Promise<OciCompareResult> {
  const [sa, sb] = await Promise.all([readOciImage(a, tag), readOciImage(b, tagB)]);
  const differences: string[] = [];
  if (sa.configDigest !== sb.configDigest) differences.push(`config ${sa.configDigest} != ${sb.configDigest}`);
  if (sa.layerDigests.join(",") !== sb.layerDigests.join(",")) {
    differences.push(`layers [${sa.layerDigests.join(", ")}] != [${sb.layerDigests.join(", ")}]`);
  }
  if (sa.uncompressedLayerDigests.join(",") !== sb.uncompressedLayerDigests.join(",")) {
    differences.push("uncompressed layer contents differ");
  }
  const same = differences.length === 0;
  const sameManifest = sa.manifestDigest === sb.manifestDigest;
  if (!sameManifest) differences.push(`manifest ${sa.manifestDigest} != ${sb.manifestDigest}`);
  return { same, sameManifest, differences, a: sa, b: sb };
}
