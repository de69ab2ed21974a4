#!/usr/bin/env node
// `npm run package`: the two Debian packages, from the build output, with dpkg-deb and no
// network, into dist/packages/:
//   fleetcert-agent_<version>_all.deb   the one-file agent (dist/bundle), for boards
//   fleetcert_<version>_<arch>.deb      the server with its production node_modules, including
//                                       better-sqlite3's native build for this machine's arch
// The production tree is copied from node_modules by the lockfile (every package npm marks
// neither dev nor absent), not installed: `npm ci --offline` needs a warm cache, and a build
// machine must not need the network. Maintainer scripts, units and conffiles come from
// deploy/debian and deploy/systemd.
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');
const DEPLOY = join(ROOT, 'deploy');
export const PACKAGES_DIR = join(DIST, 'packages');
const MAINTAINER = process.env.DEB_MAINTAINER ?? 'fleetcert maintainers <fleetcert-maintainers@users.noreply.github.com>';
/** The Debian revision of this packaging; bump it for a packaging-only change. */
const DEBIAN_REVISION = '1';

const sh = (cmd, args, options = {}) => execFileSync(cmd, args, { encoding: 'utf8', ...options });

/**
 * /usr/bin/fleetcert-agent. Run by root (an operator's "sudo fleetcert-agent renew"), it drops to
 * the agent's user first: a key or certificate written by root into /var/lib/fleetcert-agent could
 * not be read by the service afterwards. move-token alone keeps root: it rewrites the bootstrap file
 * on the root-owned boot partition (the unit runs it privileged). A Node that `fleetcert image bake`
 * embedded beside the agent (images without Node) wins over the system's.
 */
const AGENT_WRAPPER = `#!/bin/sh
AGENT=/usr/lib/fleetcert-agent/fleetcert-agent.mjs
NODE=/usr/lib/fleetcert-agent/node/bin/node
[ -x "$NODE" ] || NODE=/usr/bin/node
if [ "$(id -u)" = 0 ] && [ "$1" != move-token ] && [ -z "$FLEETCERT_AGENT_AS_ROOT" ] && getent passwd fleetcert-agent >/dev/null; then
  exec setpriv --reuid=fleetcert-agent --regid=fleetcert-agent --init-groups -- "$NODE" "$AGENT" "$@"
fi
exec "$NODE" "$AGENT" "$@"
`;

function version() {
  return `${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}-${DEBIAN_REVISION}`;
}

/** Writes a file into the staging tree, creating its directories (0755) first. */
function put(stage, path, content, mode = 0o644) {
  const file = join(stage, path);
  mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
  writeFileSync(file, content);
  chmodSync(file, mode);
}

/** Every regular file under `dir`, relative to it. */
function filesUnder(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath ?? e.path, e.name)));
}

/**
 * dpkg-deb keeps the modes it finds: directories 0755, scripts with a #! line 0755, everything
 * else 0644 (npm leaves stray executable bits; a native module is a library, not a program).
 * Directories left empty by the pruning go.
 */
function normaliseModes(stage) {
  const entries = readdirSync(stage, { recursive: true, withFileTypes: true }).map((e) => ({
    e,
    path: join(e.parentPath ?? e.path, e.name),
  }));
  for (const { e, path } of entries.reverse()) {
    if (path.startsWith(join(stage, 'DEBIAN'))) continue;
    if (e.isDirectory()) {
      if (readdirSync(path).length === 0) rmSync(path, { recursive: true });
      else chmodSync(path, 0o755);
    } else if (e.isFile()) {
      const head = readFileSync(path).subarray(0, 2).toString('latin1');
      chmodSync(path, head === '#!' ? 0o755 : 0o644);
    }
  }
}

function gzipMax(path) {
  sh('gzip', ['-9n', path]);
}

/** A man page from the program's own --help texts: one source of truth, never out of date. */
function manPage(program, mainJs, summary) {
  const help = (args) => sh(process.execPath, [mainJs, ...args], { env: { ...process.env, COLUMNS: '80' } });
  const top = help(['--help']);
  const commands = [...top.matchAll(/^ {2}([a-z][a-z-]+)(?: \[| <| {2})/gm)].map((m) => m[1]).filter((c) => c !== 'help');
  const esc = (text) => text.replace(/\\/g, '\\e').replace(/^([.'])/gm, '\\&$1');
  const sections = commands.map((c) => `.SS ${c}\n.nf\n${esc(help([c, '--help']))}.fi\n`);
  const date = new Date().toISOString().slice(0, 10);
  return (
    `.TH ${program.toUpperCase()} 1 "${date}" "${program} ${version()}" "User Commands"\n` +
    `.SH NAME\n${program} \\- ${summary}\n.SH SYNOPSIS\n.nf\n${esc(top)}.fi\n.SH COMMANDS\n${sections.join('')}` +
    `.SH SEE ALSO\n/usr/share/doc/${program}/installing.md\n`
  );
}

function changelog(name) {
  const date = sh('date', ['-R']).trim();
  const entry = '  * Built from the fleetcert source tree with "npm run package".';
  return `${name} (${version()}) unstable; urgency=medium\n\n${entry}\n\n -- ${MAINTAINER}  ${date}\n`;
}

const THIRD_PARTY_LICENCE_TEXT = [
  " The full text, with each package's copyright notice, is in its licence file:",
  ' under /usr/lib/fleetcert/node_modules/<package>/ (server), or in',
  ' /usr/share/doc/fleetcert-agent/THIRD-PARTY-NOTICES (agent, bundled).',
  '',
].join('\n');

/** DEP-5 copyright: fleetcert's licence, then every third-party package the .deb carries. */
function copyright(thirdParty, where) {
  const licences = new Set(['Apache-2.0']);
  const paragraphs = thirdParty.map(({ name, version: v, license }) => {
    licences.add(license);
    return `Files: ${where(name)}\nCopyright: the authors of ${name} ${v}\nLicense: ${license}\n`;
  });
  const texts = [...licences]
    .sort()
    .map((l) =>
      l === 'Apache-2.0'
        ? 'License: Apache-2.0\n On Debian systems the full text of the Apache License 2.0 is in\n /usr/share/common-licenses/Apache-2.0.\n'
        : `License: ${l}\n${THIRD_PARTY_LICENCE_TEXT}`,
    );
  return (
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: fleetcert\n\n' +
    `Files: *\nCopyright: ${new Date().getUTCFullYear()} fleetcert contributors\nLicense: Apache-2.0\n\n` +
    paragraphs.join('\n') +
    '\n' +
    texts.join('\n')
  );
}

function control(fields) {
  return (
    Object.entries(fields)
      .map(([k, v]) => `${k}: ${v}`)
      .join('\n') + '\n'
  );
}

function installedSizeKiB(stage) {
  return filesUnder(stage)
    .filter((f) => !f.startsWith('DEBIAN/'))
    .reduce((sum, f) => sum + Math.ceil(statSync(join(stage, f)).size / 1024), 0);
}

function finish(stage, name, arch, fields, outDir) {
  normaliseModes(stage);
  const md5 = filesUnder(stage)
    .filter((f) => !f.startsWith('DEBIAN/'))
    .sort()
    .map(
      (f) =>
        `${createHash('md5')
          .update(readFileSync(join(stage, f)))
          .digest('hex')}  ${f}`,
    );
  put(stage, 'DEBIAN/md5sums', md5.join('\n') + '\n');
  put(
    stage,
    'DEBIAN/control',
    control({
      Package: name,
      Version: version(),
      Architecture: arch,
      Maintainer: MAINTAINER,
      'Installed-Size': installedSizeKiB(stage),
      ...fields,
    }),
  );
  const deb = join(outDir, `${name}_${version()}_${arch}.deb`);
  sh('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', stage, deb], { stdio: ['ignore', 'ignore', 'inherit'] });
  rmSync(stage, { recursive: true, force: true });
  return deb;
}

/** Copies the maintainer scripts and lintian overrides of one package from deploy/debian/<name>. */
function debianFiles(stage, name) {
  const dir = join(DEPLOY, 'debian', name);
  for (const script of ['postinst', 'prerm', 'postrm']) {
    if (existsSync(join(dir, script))) put(stage, `DEBIAN/${script}`, readFileSync(join(dir, script)), 0o755);
  }
  put(stage, 'DEBIAN/conffiles', readFileSync(join(dir, 'conffiles')));
  for (const conffile of readFileSync(join(dir, 'conffiles'), 'utf8').split('\n').filter(Boolean)) {
    put(stage, conffile.slice(1), readFileSync(join(dir, 'etc', conffile.split('/').pop())));
  }
  if (existsSync(join(dir, 'lintian-overrides')))
    put(stage, `usr/share/lintian/overrides/${name}`, readFileSync(join(dir, 'lintian-overrides')));
}

function docs(stage, name, thirdParty, where, extra = {}) {
  const doc = `usr/share/doc/${name}`;
  put(stage, `${doc}/copyright`, copyright(thirdParty, where));
  put(stage, `${doc}/changelog.Debian`, changelog(name));
  gzipMax(join(stage, doc, 'changelog.Debian'));
  // Not INSTALL.md: Debian reserves that name for building from source (lintian).
  put(stage, `${doc}/installing.md`, readFileSync(join(ROOT, 'docs', 'INSTALL.md')));
  // Named by every --help ("Docs:"): the reference must be on the machine where the program runs.
  put(stage, `${doc}/cli.md`, readFileSync(join(ROOT, 'docs', 'CLI.md')));
  for (const [file, content] of Object.entries(extra)) put(stage, `${doc}/${file}`, content);
}

function units(stage, names) {
  for (const unit of names) put(stage, `usr/lib/systemd/system/${unit}`, readFileSync(join(DEPLOY, 'systemd', unit)));
}

/** The packages esbuild put into the bundle, with their licences (from their package.json). */
function bundledPackages() {
  const meta = JSON.parse(readFileSync(join(DIST, 'bundle', 'fleetcert-agent.meta.json'), 'utf8'));
  const dirs = new Set();
  for (const input of Object.keys(meta.inputs)) {
    const m = input.match(/^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//);
    if (m) dirs.add(m[1]);
  }
  return [...dirs].map((d) => packageInfo(join(ROOT, d))).sort((a, b) => a.name.localeCompare(b.name));
}

function packageInfo(dir) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  return { name: pkg.name, version: pkg.version, license: typeof pkg.license === 'string' ? pkg.license : 'UNKNOWN', dir };
}

export function buildAgentPackage(outDir = PACKAGES_DIR) {
  const name = 'fleetcert-agent';
  const stage = join(outDir, `stage-${name}`);
  rmSync(stage, { recursive: true, force: true });
  const bundle = join(DIST, 'bundle', 'fleetcert-agent.mjs');
  put(stage, 'usr/lib/fleetcert-agent/fleetcert-agent.mjs', readFileSync(bundle));
  put(stage, 'usr/bin/fleetcert-agent', AGENT_WRAPPER, 0o755);
  units(stage, ['fleetcert-agent.service', 'fleetcert-agent-renew.service', 'fleetcert-agent-renew.timer']);
  put(stage, 'usr/share/man/man1/fleetcert-agent.1', manPage('fleetcert-agent', bundle, 'fleetcert device agent'));
  gzipMax(join(stage, 'usr/share/man/man1/fleetcert-agent.1'));
  const thirdParty = bundledPackages();
  docs(stage, name, thirdParty, (n) => `usr/lib/fleetcert-agent/fleetcert-agent.mjs (bundled: ${n})`, {
    'THIRD-PARTY-NOTICES': readFileSync(`${bundle}.LEGAL.txt`),
  });
  debianFiles(stage, name);
  return finish(
    stage,
    name,
    'all',
    {
      Depends: 'nodejs (>= 18.19), adduser',
      Recommends: 'systemd-timesyncd | time-daemon',
      // Local broker mode (docs/NODE-RED.md) runs it; most boards do not need it.
      Suggests: 'mosquitto (>= 2.0)',
      Section: 'net',
      Priority: 'optional',
      Homepage: 'https://github.com/fleetcert/fleetcert',
      Description:
        'zero-touch X.509 enrollment agent for MQTT devices\n' +
        ' fleetcert-agent runs on each device of a fleet (Raspberry Pi and other boards):\n' +
        ' it makes the device key on the device, enrolls over EST with a fleet bootstrap\n' +
        ' token, connects to Mosquitto over mutual TLS and renews its certificate before\n' +
        ' it expires. One JavaScript file, no native modules.',
    },
    outDir,
  );
}

/** The server's production dependencies: every lockfile package that is not dev-only. */
function productionPackages() {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
  return Object.entries(lock.packages)
    .filter(([path, entry]) => path.startsWith('node_modules/') && !entry.dev && existsSync(join(ROOT, path)))
    .map(([path]) => path);
}

/** Files of an npm package that a running server never reads (licence files stay). */
function keepInNodeModules(path) {
  const rel = path.replace(/\\/g, '/');
  const base = rel.split('/').pop();
  if (/\.(map|ts|md|markdown)$/i.test(rel) && !/^licen[cs]e/i.test(base)) return false;
  // Lint and packaging dotfiles (.eslintrc, .npmignore, ...) are no part of a running package.
  if (base.startsWith('.')) return false;
  // better-sqlite3 loads only its compiled module; its C sources and build tree are 10 MB.
  const inner = rel.match(/node_modules\/better-sqlite3\/(.*)$/)?.[1];
  if (inner !== undefined) {
    if (/^(deps|src)(\/|$)/.test(inner)) return false;
    if (inner.startsWith('build/') && inner !== 'build/Release' && inner !== 'build/Release/better_sqlite3.node') return false;
  }
  return true;
}

export function buildServerPackage(outDir = PACKAGES_DIR) {
  const name = 'fleetcert';
  const arch = sh('dpkg', ['--print-architecture']).trim();
  const stage = join(outDir, `stage-${name}`);
  rmSync(stage, { recursive: true, force: true });
  const lib = join(stage, 'usr/lib/fleetcert');
  mkdirSync(lib, { recursive: true });
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  put(
    stage,
    'usr/lib/fleetcert/package.json',
    JSON.stringify({ name: pkg.name, version: pkg.version, type: 'module', private: true }, null, 2) + '\n',
  );
  for (const part of ['server', 'shared'])
    cpSync(join(DIST, part), join(lib, 'dist', part), { recursive: true, filter: (p) => !p.endsWith('.map') });
  const thirdParty = [];
  for (const path of productionPackages()) {
    const dest = join(lib, path);
    // Nested node_modules are lockfile entries of their own (copied when their turn comes).
    cpSync(join(ROOT, path), dest, {
      recursive: true,
      dereference: true,
      filter: (p) => keepInNodeModules(p) && relative(join(ROOT, path), p) !== 'node_modules',
    });
    thirdParty.push({ ...packageInfo(join(ROOT, path)), path });
  }
  const native = join(lib, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node');
  if (!existsSync(native)) throw new Error(`${native}: better-sqlite3 has no native build for this machine (npm rebuild better-sqlite3)`);
  sh('strip', ['--strip-unneeded', '--remove-section=.comment', '--remove-section=.note', native]);
  put(stage, 'usr/bin/fleetcert', '#!/bin/sh\nexec /usr/bin/node /usr/lib/fleetcert/dist/server/main.js "$@"\n', 0o755);
  // fleetcert-crl-sync runs on the broker hosts of a scale-out (docs/SCALING.md); shipped, enabled by the operator.
  units(stage, [
    'fleetcert.service',
    'fleetcert-crl.service',
    'fleetcert-crl.timer',
    'fleetcert-crl-sync.service',
    'fleetcert-crl-sync.timer',
  ]);
  // Mosquitto holds one descriptor per device; Debian's unit leaves the limit at 1024 (docs/OPERATIONS.md).
  put(
    stage,
    'usr/lib/systemd/system/mosquitto.service.d/fleetcert-limits.conf',
    readFileSync(join(DEPLOY, 'systemd', 'mosquitto.service.d', 'fleetcert-limits.conf')),
  );
  put(stage, 'usr/share/man/man1/fleetcert.1', manPage('fleetcert', join(DIST, 'server', 'main.js'), 'fleetcert enrollment server and CA'));
  gzipMax(join(stage, 'usr/share/man/man1/fleetcert.1'));
  docs(stage, name, thirdParty, (n) => `usr/lib/fleetcert/node_modules/${n}/*`);
  debianFiles(stage, name);
  return finish(
    stage,
    name,
    arch,
    {
      Depends: `nodejs (>= 20), adduser, ${sharedLibraryDepends(native)}`,
      Recommends: 'mosquitto (>= 2.0)',
      Section: 'net',
      Priority: 'optional',
      Homepage: 'https://github.com/fleetcert/fleetcert',
      Description:
        'zero-touch X.509 enrollment server and CA for MQTT device fleets\n' +
        ' fleetcert is the certificate authority and EST (RFC 7030) enrollment\n' +
        ' endpoint for a fleet of MQTT devices: fleet bootstrap tokens, a device\n' +
        ' registry, renewal, revocation with a CRL kept fresh for Mosquitto, and the\n' +
        ' Mosquitto configuration that makes every device use its own certificate.',
    },
    outDir,
  );
}

/** The libraries the native module links, as Debian dependencies (dpkg-shlibdeps). */
function sharedLibraryDepends(native) {
  const work = join(PACKAGES_DIR, 'shlibdeps');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, 'debian'), { recursive: true });
  writeFileSync(join(work, 'debian', 'control'), 'Source: fleetcert\n\nPackage: fleetcert\nArchitecture: any\n');
  const out = sh('dpkg-shlibdeps', ['-O', native], { cwd: work, stdio: ['ignore', 'pipe', 'ignore'] });
  rmSync(work, { recursive: true, force: true });
  const depends = out.match(/^shlibs:Depends=(.*)$/m)?.[1];
  if (!depends) throw new Error(`dpkg-shlibdeps gave no dependencies for ${native}`);
  return depends;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  rmSync(PACKAGES_DIR, { recursive: true, force: true });
  mkdirSync(PACKAGES_DIR, { recursive: true });
  for (const deb of [buildAgentPackage(), buildServerPackage()]) {
    process.stderr.write(`[package] ${relative(ROOT, deb)}: ${(statSync(deb).size / 1024).toFixed(0)} KiB\n`);
  }
}
