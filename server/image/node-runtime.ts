/**
 * Which Node.js the baked agent runs on (`--node`):
 *   auto     the image's own Node if its package manager has nodejs >= 18.19, else embed
 *   image    the image's /usr/bin/node (Debian's nodejs package), refused when absent or too old
 *   embed    the npm registry's node-linux-<cpu> package for the image's architecture (cached, integrity-checked)
 *   tarball  a nodejs.org `node-vX-linux-<cpu>.tar.xz` (or .tar.gz) the operator passes
 * An embedded Node goes to /usr/lib/fleetcert-agent/node, beside the agent and apart from the
 * image's package manager; the agent's wrapper prefers it to /usr/bin/node.
 */
import { mkdir, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { FleetcertError } from '../../shared/errors.js';
import { elfArch, ELF_HEADER_BYTES, multiarchTriplet, nodePackageFor, type ImageArch } from './detect-arch.js';
import { neededLibraries } from './elf-needed.js';
import type { Ext4Partition } from './ext4-partition.js';
import { fetchNodePackage } from './npm-node-package.js';
import { runImageTool } from './run-image-tool.js';

export const NODE_STRATEGIES = ['auto', 'image', 'embed', 'tarball'] as const;
export type NodeStrategy = (typeof NODE_STRATEGIES)[number];

export interface NodeOptions {
  readonly strategy: NodeStrategy;
  /** For `tarball`. */
  readonly file: string | undefined;
  /** For `embed`: exact version or major. */
  readonly version: string | undefined;
  readonly registry: string;
  readonly cacheDir: string;
  /** Which even majors are LTS yet. */
  readonly now: Date;
}

export type NodeRuntime =
  | { readonly source: 'image'; readonly version: string }
  | {
      readonly source: 'embedded';
      readonly version: string;
      readonly from: string;
      readonly node: string;
      readonly license: string | undefined;
    };

/** Debian's minimum for the agent (issue 12): Bookworm's nodejs. */
const MIN_NODE = [18, 19];

export async function chooseNodeRuntime(root: Ext4Partition, arch: ImageArch, options: NodeOptions, workDir: string): Promise<NodeRuntime> {
  if (options.strategy === 'image' || options.strategy === 'auto') {
    const found = await imageNode(root);
    if (found.ok) return { source: 'image', version: found.version };
    if (options.strategy === 'image') {
      throw new FleetcertError('node_runtime_invalid', `the image has no usable Node: ${found.why}`, {
        hint: 'use --node embed (needs the npm registry once) or --node tarball <node-vX-linux-<arch>.tar.xz>',
      });
    }
  }
  if (options.strategy === 'tarball') {
    if (!options.file) throw new FleetcertError('usage', '--node tarball needs --node-file <node-vX-linux-<arch>.tar.xz>');
    return unpackNode(options.file, options.file, arch, workDir, root);
  }
  const name = nodePackageFor(arch);
  if (!name) throw new FleetcertError('node_runtime_invalid', `the npm registry has no Node package for ${arch}`);
  const pkg = await fetchNodePackage({
    registry: options.registry,
    name,
    version: options.version,
    cacheDir: options.cacheDir,
    now: options.now,
  });
  return unpackNode(
    pkg.tarball,
    `${name}@${pkg.version} (${pkg.integrity.slice(0, 20)}..., ${pkg.fromCache ? 'cached' : 'downloaded'})`,
    arch,
    workDir,
    root,
  );
}

async function imageNode(root: Ext4Partition): Promise<{ ok: true; version: string } | { ok: false; why: string }> {
  const node = await root.stat(await root.resolve('/usr/bin/node'));
  if (node?.type !== 'regular') return { ok: false, why: 'no /usr/bin/node' };
  const status = (await root.readFile('/var/lib/dpkg/status'))?.toString('utf8') ?? '';
  const version = debianPackageVersion(status, 'nodejs');
  if (version === undefined) return { ok: true, version: 'unknown (not from a Debian package)' };
  const [major, minor] = version.split(/[.+~-]/).map(Number);
  if (major! < MIN_NODE[0]! || (major === MIN_NODE[0] && minor! < MIN_NODE[1]!))
    return { ok: false, why: `nodejs ${version} is older than ${MIN_NODE.join('.')}` };
  return { ok: true, version };
}

/** The installed version of a package in a dpkg status file (pure). */
export function debianPackageVersion(status: string, name: string): string | undefined {
  for (const stanza of status.split(/\n\s*\n/)) {
    if (!new RegExp(`^Package: ${name}$`, 'm').test(stanza)) continue;
    if (!/^Status: .* installed$/m.test(stanza)) continue;
    return /^Version: (?:\d+:)?(\S+)$/m.exec(stanza)?.[1];
  }
  return undefined;
}

async function unpackNode(tarball: string, from: string, arch: ImageArch, workDir: string, root: Ext4Partition): Promise<NodeRuntime> {
  const dir = join(workDir, 'node');
  await mkdir(dir, { recursive: true });
  const res = await runImageTool('tar', ['-xf', tarball, '-C', dir, '--wildcards', '*/bin/node', '*/LICENSE'], { allowFailure: true });
  const top = (await readdir(dir).catch(() => [] as string[]))[0];
  const node = top === undefined ? undefined : join(dir, top, 'bin', 'node');
  if (res.code !== 0 || !node) {
    throw new FleetcertError('node_runtime_invalid', `${tarball}: no */bin/node in it (${res.stderr.trim()})`, {
      hint: 'pass a Node.js Linux binary tarball, e.g. node-v22.12.0-linux-arm64.tar.xz from nodejs.org',
    });
  }
  const head = Buffer.alloc(ELF_HEADER_BYTES);
  const handle = await open(node, 'r');
  try {
    await handle.read(head, 0, ELF_HEADER_BYTES, 0);
  } finally {
    await handle.close();
  }
  const nodeArch = elfArch(head);
  if (nodeArch !== arch) {
    throw new FleetcertError('node_runtime_invalid', `${from}: its node is ${nodeArch ?? 'not an ELF program'}, the image is ${arch}`);
  }
  await checkLibraries(root, arch, node, from);
  const version = /node-v?(\d+\.\d+\.\d+)/.exec(top!)?.[1] ?? /@(\d+\.\d+\.\d+)/.exec(from)?.[1] ?? 'unknown';
  const license = join(dir, top!, 'LICENSE');
  const hasLicense = await open(license, 'r').then(
    async (h) => (await h.close(), true),
    () => false,
  );
  return { source: 'embedded', version, from, node, license: hasLicense ? license : undefined };
}

/** Debian packages of the libraries official Node builds need beyond libc. */
const DEBIAN_PACKAGE_OF: Record<string, string> = {
  'libatomic.so.1': 'libatomic1',
  'libstdc++.so.6': 'libstdc++6',
  'libgcc_s.so.1': 'libgcc-s1',
};

/** Refuses a Node whose shared libraries the image lacks: it would not start on the board. */
async function checkLibraries(root: Ext4Partition, arch: ImageArch, node: string, from: string): Promise<void> {
  const triplet = multiarchTriplet(arch);
  const present = new Set<string>();
  for (const dir of [`/lib/${triplet}`, `/usr/lib/${triplet}`, '/lib', '/usr/lib']) {
    const resolved = await root.resolve(dir);
    if ((await root.stat(resolved))?.type !== 'directory') continue;
    for (const entry of await root.list(resolved)) present.add(entry.name);
  }
  const missing = (await neededLibraries(node)).filter((lib) => !present.has(lib));
  if (missing.length > 0) {
    const packages = missing.map((lib) => DEBIAN_PACKAGE_OF[lib] ?? lib);
    throw new FleetcertError('node_runtime_invalid', `${from}: its node needs ${missing.join(', ')}, which the image does not have`, {
      hint: `use an image that has ${packages.join(', ')}, another --node-version, or --node image with Debian's nodejs`,
    });
  }
}
