// Set-up shared by the README's two commands (demo, tests): checks Node, installs the npm
// dependencies when they are missing or stale, installs the Debian packages when run as
// root (else names them), then compiles the TypeScript and bundles the agent. Plain JS: it runs before any build.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Debian packages by the command they provide (a list when the command needs more than its own package). */
const DEBIAN_PACKAGES = {
  // The crash-injection test builds an LD_PRELOAD library (test/fixtures/kill-at-step): compiler and libc headers.
  gcc: ['gcc', 'libc6-dev'],
  openssl: 'openssl',
  mosquitto: 'mosquitto',
  mosquitto_pub: 'mosquitto-clients',
  mosquitto_sub: 'mosquitto-clients',
  curl: 'curl',
  ip: 'iproute2',
  unshare: 'util-linux',
  // The agent under qemu-user with Debian's own arm64/armhf node (scripts/arm-sysroot.mjs).
  'qemu-aarch64-static': 'qemu-user-static',
  'qemu-arm-static': 'qemu-user-static',
  'dpkg-deb': 'dpkg',
  // The packages test: shared-library dependencies, lintian, and the units checked by systemd-analyze.
  'dpkg-shlibdeps': 'dpkg-dev',
  lintian: 'lintian',
  'systemd-analyze': 'systemd',
  adduser: 'adduser',
  // Image baking (issue 13): partition tables, FAT and ext4 edited in userspace, no loop devices.
  sfdisk: 'fdisk',
  mcopy: 'mtools',
  'mkfs.vfat': 'dosfstools',
  debugfs: 'e2fsprogs',
  // Scale-out (issue 16): a throwaway PostgreSQL cluster and haproxy in front of several servers.
  pg_ctlcluster: 'postgresql',
  haproxy: 'haproxy',
  // The console's browser test (issue 17) and the alert rules check.
  chromium: 'chromium',
  promtool: 'prometheus',
  // The avahi service file announced by a real avahi-daemon in a network namespace (issue 14).
  'avahi-daemon': 'avahi-daemon',
};

function say(message) {
  process.stderr.write(`[setup] ${message}\n`);
}

function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit', ...options });
  if (result.status !== 0) {
    say(`"${cmd} ${args.join(' ')}" failed with exit code ${result.status ?? result.signal}`);
    process.exit(1);
  }
}

function hasCommand(name) {
  const paths = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin']);
  return paths.some((p) => p && existsSync(join(p, name)));
}

function checkNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 6)) {
    say(`Node ${process.versions.node} is too old for the server and the tests: install Node 20 or newer.`);
    process.exit(1);
  }
}

/**
 * npm ci when node_modules was installed from another package-lock.json. Judged by content, not
 * by modification time: a checkout or a branch switch touches the lock without changing it, and
 * an npm ci then wipes a node_modules other checkouts may be using.
 */
function ensureNpmDependencies() {
  const lockHash = createHash('sha256')
    .update(readFileSync(join(ROOT, 'package-lock.json')))
    .digest('hex');
  const stamp = join(ROOT, 'node_modules', '.fleetcert-lock-sha256');
  const installedHash = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : undefined;
  if (installedHash === lockHash) return;
  // A worktree whose node_modules links to another checkout's install: `npm ci` here would empty
  // that install for everyone using it.
  if (existsSync(join(ROOT, 'node_modules')) && lstatSync(join(ROOT, 'node_modules')).isSymbolicLink()) {
    say('node_modules links to another install; not running npm ci here (run it where the install lives)');
    return;
  }
  say('installing npm dependencies (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error']);
  writeFileSync(stamp, `${lockHash}\n`);
}

function ensureDebianPackages(commands) {
  const missing = [...new Set(commands.filter((c) => !hasCommand(c)).flatMap((c) => DEBIAN_PACKAGES[c] ?? c))];
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    say(`missing Debian packages: ${missing.join(' ')}`);
    say(`install them with:  sudo apt-get install -y ${missing.join(' ')}`);
    process.exit(1);
  }
  say(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { env });
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env });
}

function build() {
  say('compiling TypeScript');
  // A clean output: a test file deleted or renamed in the source must not keep running from dist/.
  rmSync(join(ROOT, 'dist'), { recursive: true, force: true });
  run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']);
  // The agent's clock floor: the real build time, stamped into the compiled file only.
  run(process.execPath, [join(ROOT, 'scripts', 'stamp-build.mjs')]);
  // The one-file agent for boards, from the stamped output (the bundle and ARM tests run it).
  run(process.execPath, [join(ROOT, 'scripts', 'bundle-agent.mjs')]);
}

/** Everything the demo or the tests need, idempotent and quick when already done. */
export function ensureSetup({ commands }) {
  checkNode();
  ensureDebianPackages(commands);
  ensureNpmDependencies();
  build();
}
