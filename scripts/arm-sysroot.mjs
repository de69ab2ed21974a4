#!/usr/bin/env node
// A Debian 12 sysroot with Debian's own `nodejs` (18.x) for arm64 or armhf, so that the agent can be
// run under qemu-user on an x64 machine:  node scripts/arm-sysroot.mjs <arm64|armhf>  prints its path.
//
// It never touches the host's dpkg: a private APT_CONFIG (its own architecture, state, cache and
// no host apt.conf.d) downloads nodejs and its dependency closure from the host's own Debian
// sources, and `dpkg-deb -x` unpacks them into the sysroot. Built once into a cache outside the
// clone ($FLEETCERT_SYSROOT_CACHE, else $XDG_CACHE_HOME/fleetcert-test-sysroots, else
// ~/.cache/fleetcert-test-sysroots) and reused; a sysroot is complete only once its stamp exists.
// Plain JS: the tests call it before anything is built.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Debian architecture -> what qemu-user and the multiarch triplet call it. */
export const ARCHES = {
  arm64: { qemu: 'qemu-aarch64-static', triplet: 'aarch64-linux-gnu' },
  armhf: { qemu: 'qemu-arm-static', triplet: 'arm-linux-gnueabihf' },
};

export function sysrootCache() {
  if (process.env.FLEETCERT_SYSROOT_CACHE) return process.env.FLEETCERT_SYSROOT_CACHE;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'fleetcert-test-sysroots');
}

function run(cmd, args, env = process.env) {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0)
    throw new Error(`"${cmd} ${args.join(' ')}" failed (${r.status ?? r.signal}):\n${r.stderr || r.error?.message || ''}`);
  return r.stdout;
}

/**
 * The sysroot's path, built first if the cache does not hold a complete one. `packages` other than
 * nodejs make a sysroot of their own beside it (same APT state, so the indexes download once):
 * the board-image tests add dash and coreutils, what the agent's /usr/bin wrapper runs.
 */
export function ensureSysroot(arch, packages = ['nodejs']) {
  if (!ARCHES[arch]) throw new Error(`unknown architecture "${arch}": one of ${Object.keys(ARCHES).join(', ')}`);
  const base = join(sysrootCache(), `bookworm-${arch}`);
  const suffix = packages.join(' ') === 'nodejs' ? '' : `-${packages.join('+')}`;
  const sysroot = join(base, `sysroot${suffix}`);
  const stamp = join(base, `complete${suffix}`);
  if (existsSync(stamp)) return sysroot;

  const apt = join(base, 'apt');
  for (const d of ['state/lists/partial', 'cache/archives/partial', 'apt.conf.d', 'preferences.d'])
    mkdirSync(join(apt, d), { recursive: true });
  writeFileSync(join(apt, 'state', 'status'), '');
  const config = join(apt, 'apt.conf');
  writeFileSync(
    config,
    [
      `APT::Architecture "${arch}";`,
      `APT::Architectures { "${arch}"; };`,
      'APT::Install-Recommends "false";',
      // Private state and cache; the host's sources (same mirror, same keys), none of its apt.conf.d.
      `Dir::State "${join(apt, 'state')}";`,
      `Dir::State::status "${join(apt, 'state', 'status')}";`,
      `Dir::Cache "${join(apt, 'cache')}";`,
      `Dir::Etc::Parts "${join(apt, 'apt.conf.d')}";`,
      `Dir::Etc::PreferencesParts "${join(apt, 'preferences.d')}";`,
      'Dir::Etc::SourceList "/etc/apt/sources.list";',
      'Dir::Etc::SourceParts "/etc/apt/sources.list.d";',
      // Nothing here is shared with the host's apt: no lock to take, no sandbox user to hand files to.
      'Debug::NoLocking "true";',
      'APT::Sandbox::User "root";',
      '',
    ].join('\n'),
  );
  const env = { ...process.env, APT_CONFIG: config, DEBIAN_FRONTEND: 'noninteractive' };
  process.stderr.write(`[arm-sysroot] downloading Debian's ${packages.join(' ')} for ${arch} into ${base}\n`);
  // A mirror mid-sync (or a stale proxy) answers one index with the wrong size: try again, then go
  // on with the indexes that did arrive; the download below fails clearly if nodejs is not in them.
  const haveLists = readdirSync(join(apt, 'state', 'lists')).some((f) => f.endsWith('_Packages'));
  for (let attempt = haveLists ? 3 : 1; attempt <= 2; attempt += 1) {
    try {
      run('apt-get', ['-qq', 'update'], env);
      break;
    } catch (err) {
      process.stderr.write(`[arm-sysroot] apt-get update: ${err.message.split('\n').find((l) => l.startsWith('E:')) ?? err.message}\n`);
      if (attempt === 1) spawnSync('sleep', ['10']);
    }
  }
  run('apt-get', ['-qq', '-y', '--download-only', 'install', ...packages], env);

  const archives = join(apt, 'cache', 'archives');
  const debs = readdirSync(archives).filter((f) => f.endsWith('.deb'));
  const partial = `${sysroot}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  for (const deb of debs) run('dpkg-deb', ['-x', join(archives, deb), partial]);
  if (packages.includes('nodejs') && !existsSync(join(partial, 'usr', 'bin', 'node')))
    throw new Error(`no usr/bin/node in the ${arch} packages: ${debs.join(' ')}`);
  rmSync(sysroot, { recursive: true, force: true });
  renameSync(partial, sysroot);
  writeFileSync(stamp, debs.sort().join('\n') + '\n');
  // The .debs are not needed once unpacked.
  for (const deb of debs) rmSync(join(archives, deb));
  return sysroot;
}

/** How to start Debian's node of the sysroot under qemu-user: the command and its leading arguments. */
export function qemuNode(arch) {
  const sysroot = ensureSysroot(arch);
  const { qemu, triplet } = ARCHES[arch];
  // qemu 7.2 translates paths for open() but not for armhf's statx-based library search: name the
  // library directories outright (harmless for arm64).
  const libs = [join(sysroot, 'lib', triplet), join(sysroot, 'usr', 'lib', triplet)].join(':');
  return { command: qemu, args: ['-L', sysroot, '-E', `LD_LIBRARY_PATH=${libs}`, join(sysroot, 'usr', 'bin', 'node')], sysroot };
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const arch = process.argv[2];
  if (!arch) {
    process.stderr.write('usage: node scripts/arm-sysroot.mjs <arm64|armhf> [--json | <package>...]\n');
    process.stderr.write('  prints the sysroot path, or (--json) how to run its node under qemu-user\n');
    process.exit(2);
  }
  const packages = process.argv.slice(3).filter((a) => !a.startsWith('--'));
  if (packages.length > 0) {
    process.stdout.write(ensureSysroot(arch, packages) + '\n');
    process.exit(0);
  }
  try {
    const node = qemuNode(arch);
    const version = run(node.command, [...node.args, '--version']).trim();
    process.stderr.write(`[arm-sysroot] ${arch}: ${version} under ${node.command}\n`);
    process.stdout.write(process.argv.includes('--json') ? JSON.stringify({ arch, version, ...node }) + '\n' : node.sysroot + '\n');
  } catch (err) {
    process.stderr.write(`[arm-sysroot] ${err.message}\n`);
    process.exit(1);
  }
}
