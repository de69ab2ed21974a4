/**
 * The Debian packages as an operator gets them: `npm run package` builds both, lintian finds no
 * error or warning, `apt-get install ./*.deb` installs them on this machine (CI runs as root),
 * systemd-analyze verifies the installed units and scores their exposure, and then, systemd not
 * being PID 1 here, the units' own ExecStart= lines run as the units' users: the installed server
 * enrolls the installed agent, which connects over mutual TLS to a test Mosquitto. Removal keeps
 * the agent's key, purge deletes it; the machine is left as it was found.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { boardRoot } from '../helpers/boards.js';
import { eventsIn } from '../helpers/agent-process.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/ports.js';
import { run } from '../helpers/run.js';
import { withTempDir } from '../helpers/temp-dir.js';
import { REPO_ROOT } from '../helpers/repo.js';

const ROOT = REPO_ROOT;
const UNITS = '/usr/lib/systemd/system';
const AGENT_STATE = '/var/lib/fleetcert-agent';
const SERVER_DATA = '/var/lib/fleetcert';
const PACKAGES = ['fleetcert', 'fleetcert-agent'];
/** Building, linting and installing take 15-60 s each on a loaded 2-core machine; the run helper's default is 30 s. */
const SLOW = { timeoutMs: 180_000 };
const APT = { ...SLOW, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } };
const hasDpkgDeb = (process.env.PATH ?? '').split(':').some((p) => p && existsSync(join(p, 'dpkg-deb')));

const sh = (cmd: string, args: readonly string[]) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** The ExecStart= command of an installed unit, with its environment expanded as systemd does. */
function execStart(unitText: string, env: Record<string, string>): string[] {
  const line = unitText.split('\n').find((l) => l.startsWith('ExecStart='));
  if (!line) throw new Error('no ExecStart=');
  return line
    .slice('ExecStart='.length)
    .trim()
    .split(/\s+/)
    .flatMap((word) => {
      const whole = word.match(/^\$([A-Za-z_][A-Za-z0-9_]*)$/);
      // "$VAR" alone is split into words, and vanishes when empty; "${VAR}" inside a word is substituted.
      if (whole) return (env[whole[1]!] ?? '').split(/\s+/).filter(Boolean);
      return [word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => env[name] ?? '')];
    });
}

/** KEY=VALUE lines of an EnvironmentFile (comments and blanks skipped). */
function environmentFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = line.match(/^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/);
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

/** Runs a unit's command as its User= with its environment: what systemd would start. */
function startAsUnit(
  user: string,
  argv: string[],
  env: Record<string, string>,
): { child: ChildProcess; logs: () => string; exited: Promise<number | null> } {
  const child = spawn('setpriv', ['--reuid', user, '--regid', user, '--init-groups', '--', ...argv], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', ...env },
  });
  let logs = '';
  child.stderr.on('data', (c: Buffer) => (logs += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, logs: () => logs, exited };
}

async function until(what: string, probe: () => boolean, timeoutMs: number, logs: () => string): Promise<void> {
  const started = Date.now();
  while (!probe()) {
    if (Date.now() - started > timeoutMs) throw new Error(`no ${what} within ${timeoutMs} ms:\n${logs()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function installed(name: string): boolean {
  try {
    return /install ok installed/.test(sh('dpkg-query', ['-W', '-f=${Status}', name]));
  } catch {
    return false;
  }
}

test('npm run package: lintian-clean packages that install, verify, and enroll the agent from the installed files', async () => {
  if (!hasDpkgDeb) {
    console.log('skipped: dpkg-deb is missing (apt-get install dpkg-dev)');
    return;
  }
  assert.is(process.getuid?.(), 0, 'installing packages needs root (CI runs as root)');
  // Never touch a real installation: the test purges what it installs.
  for (const name of PACKAGES) assert.not.ok(installed(name), `${name} is installed on this machine; the test would purge it`);
  for (const dir of [AGENT_STATE, SERVER_DATA]) assert.not.ok(existsSync(dir), `${dir} exists; the test would delete it`);
  const passwd = (await readFile('/etc/passwd', 'utf8')).split('\n').map((l) => l.split(':')[0]);
  const usersBefore = new Set(['fleetcert', 'fleetcert-agent'].filter((u) => passwd.includes(u)));

  const built = await run(process.execPath, [join(ROOT, 'scripts', 'package-debs.mjs')], { ...SLOW, cwd: ROOT });
  assert.is(built.code, 0, built.stderr);
  const dir = join(ROOT, 'dist', 'packages');
  const debs = (await readdir(dir)).filter((f) => f.endsWith('.deb')).map((f) => join(dir, f));
  assert.is(debs.length, 2, debs.join(' '));

  const lint = await run('lintian', ['--tag-display-limit', '0', ...debs], SLOW);
  assert.equal(
    lint.stdout.split('\n').filter((l) => /^[EW]: /.test(l)),
    [],
    lint.stdout + lint.stderr,
  );
  // The broker hosts' CRL sync ships in the server package: its units, and its defaults as a conffile.
  const serverDeb = debs.find((d) => /\/fleetcert_[^/]*\.deb$/.test(d))!;
  const listing = sh('dpkg-deb', ['-c', serverDeb]);
  for (const file of [
    'usr/lib/systemd/system/fleetcert-crl-sync.service',
    'usr/lib/systemd/system/fleetcert-crl-sync.timer',
    'etc/default/fleetcert-crl-sync',
    'usr/lib/systemd/system/mosquitto.service.d/fleetcert-limits.conf',
  ])
    assert.match(listing, new RegExp(`^-rw-r--r-- root/root .* \\./${file.replace(/[.]/g, '\\.')}$`, 'm'), `${file} in ${serverDeb}`);
  assert.match(sh('dpkg-deb', ['--info', serverDeb, 'conffiles']), /^\/etc\/default\/fleetcert-crl-sync$/m);

  try {
    const apt = await run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...debs], APT);
    assert.is(apt.code, 0, apt.stdout + apt.stderr);
    // Mosquitto's descriptor limit, raised for fleets past ~1,000 devices.
    assert.match(await readFile('/usr/lib/systemd/system/mosquitto.service.d/fleetcert-limits.conf', 'utf8'), /^LimitNOFILE=65536$/m);

    // What the maintainer scripts did: users, 0700 state directories, units enabled.
    for (const [state, user] of [
      [AGENT_STATE, 'fleetcert-agent'],
      [SERVER_DATA, 'fleetcert'],
    ] as const) {
      const st = statSync(state);
      assert.is(st.mode & 0o777, 0o700, state);
      assert.is(st.uid, Number(sh('id', ['-u', user]).trim()), state);
    }
    assert.ok(existsSync('/etc/systemd/system/multi-user.target.wants/fleetcert-agent.service'), 'agent unit enabled');
    assert.ok(existsSync('/etc/systemd/system/timers.target.wants/fleetcert-crl.timer'), 'CRL timer enabled');
    assert.not.ok(existsSync('/etc/systemd/system/timers.target.wants/fleetcert-crl-sync.timer'), 'CRL sync not enabled: it needs a URL');
    assert.is(statSync('/etc/default/fleetcert-crl-sync').mode & 0o777, 0o644);
    assert.equal(environmentFile(await readFile('/etc/default/fleetcert-crl-sync', 'utf8')), {}, 'its defaults are comments');
    assert.match(sh('/usr/bin/fleetcert-agent', ['--help']), /needs-renewal/);
    assert.ok(existsSync('/usr/share/man/man1/fleetcert-agent.1.gz') && existsSync('/usr/share/doc/fleetcert-agent/changelog.Debian.gz'));
    for (const program of ['fleetcert', 'fleetcert-agent']) {
      const docs = /Docs: (\S+)/.exec(sh(`/usr/bin/${program}`, ['--help']))?.[1];
      assert.ok(docs !== undefined && existsSync(docs), `${program} --help names ${docs}: it must be installed`);
    }

    const unitFiles = [
      'fleetcert-agent.service',
      'fleetcert-agent-renew.service',
      'fleetcert-agent-renew.timer',
      'fleetcert.service',
      'fleetcert-crl.service',
      'fleetcert-crl.timer',
      'fleetcert-crl-sync.service',
      'fleetcert-crl-sync.timer',
    ];
    const verify = await run('systemd-analyze', ['verify', '--man=no', ...unitFiles.map((u) => join(UNITS, u))], SLOW);
    assert.is(verify.code, 0, verify.stdout + verify.stderr);
    assert.is(verify.stderr.trim(), '', verify.stderr);
    for (const unit of unitFiles.filter((u) => u.endsWith('.service'))) {
      const security = await run('systemd-analyze', ['security', '--offline=true', '--no-pager', join(UNITS, unit)]);
      const score = Number(security.stdout.match(/Overall exposure level for \S+: ([\d.]+)/)?.[1]);
      console.log(`exposure ${unit}: ${score}`);
      assert.ok(score <= 2.0, `${unit} exposure ${score}:\n${security.stdout}`);
    }

    await withTempDir(async (work) => {
      await chmod(work, 0o755);
      // The server, set up as docs/INSTALL.md says: init as its user, broker-config, serve from its unit.
      const secrets = join(work, 'secrets');
      await mkdir(secrets, { mode: 0o700 });
      sh('chown', ['fleetcert:fleetcert', secrets]);
      const passphrase = join(secrets, 'ca-passphrase');
      const init = startAsUnit('fleetcert', ['/usr/bin/fleetcert', 'init', '--data-dir', SERVER_DATA, '--passphrase-file', passphrase], {});
      assert.is(await init.exited, 0, init.logs());
      const brokerDir = join(work, 'broker');
      const pidDir = join(work, 'run');
      await mkdir(pidDir);
      await chown(pidDir, Number(sh('id', ['-u', 'mosquitto']).trim()), 0);
      const brokerPort = await freePort();
      const config = await run('/usr/bin/fleetcert', [
        'broker-config',
        '--data-dir',
        SERVER_DATA,
        '--passphrase-file',
        passphrase,
        '--out',
        brokerDir,
        '--port',
        String(brokerPort),
        '--bind',
        '127.0.0.1',
        '--admin-port',
        String(await freePort()),
        '--host',
        'localhost',
        '--reload-pid-file',
        join(pidDir, 'mosquitto.pid'),
      ]);
      assert.is(config.code, 0, config.stderr);
      // broker-config ran as root: give the data back to the server's user (docs/INSTALL.md).
      sh('chown', ['-R', 'fleetcert:fleetcert', SERVER_DATA]);
      const broker = await startMosquitto(work, brokerDir, join(pidDir, 'mosquitto.pid'));

      // systemd's LoadCredential=, by hand: the passphrase in a directory only the service reads.
      const credentials = join(work, 'credentials');
      await mkdir(credentials, { mode: 0o700 });
      await copyFile(passphrase, join(credentials, 'ca-passphrase'));
      sh('chown', ['-R', 'fleetcert:fleetcert', credentials]);
      const port = await freePort();
      const serverEnv = {
        ...environmentFile(await readFile('/etc/default/fleetcert', 'utf8')),
        FLEETCERT_LISTEN: `127.0.0.1:${port}`,
        CREDENTIALS_DIRECTORY: credentials,
      };
      const serverCmd = execStart(await readFile(join(UNITS, 'fleetcert.service'), 'utf8'), serverEnv);
      assert.equal(serverCmd.slice(0, 4), ['/usr/bin/fleetcert', 'serve', '--passphrase-file', join(credentials, 'ca-passphrase')]);
      const server = startAsUnit('fleetcert', serverCmd, serverEnv);
      let agent: ReturnType<typeof startAsUnit> | undefined;
      try {
        await until(
          'serve_listening',
          () => eventsIn(server.logs(), 'serve_listening').length > 0 || server.child.exitCode !== null,
          15_000,
          server.logs,
        );
        assert.is(server.child.exitCode, null, server.logs());

        // The agent, configured the way an operator would: an EnvironmentFile naming a config file.
        const bootstrap = join(work, 'fleetcert.json');
        const token = await run('/usr/bin/fleetcert', [
          'token',
          'create',
          '--data-dir',
          SERVER_DATA,
          '--name',
          'deb',
          '--out',
          bootstrap,
          '--enroll-url',
          `https://localhost:${port}`,
        ]);
        assert.is(token.code, 0, token.stderr);
        sh('chown', ['-R', 'fleetcert:fleetcert', SERVER_DATA]);
        await chmod(bootstrap, 0o644);
        const agentConfig = join(work, 'agent.json');
        await writeFile(
          agentConfig,
          JSON.stringify({
            bootstrapFiles: [bootstrap],
            broker: `127.0.0.1:${brokerPort}`,
            brokerServername: 'localhost',
            identityRoot: boardRoot('rpi4-bookworm-arm64'),
          }),
        );
        await chmod(agentConfig, 0o644);
        const agentEnv = {
          ...environmentFile(await readFile('/etc/default/fleetcert-agent', 'utf8')),
          FLEETCERT_AGENT_CONFIG: agentConfig,
        };
        agent = startAsUnit(
          'fleetcert-agent',
          execStart(await readFile(join(UNITS, 'fleetcert-agent.service'), 'utf8'), agentEnv),
          agentEnv,
        );
        const current = agent;
        await until(
          'mqtt_connected',
          () => eventsIn(current.logs(), 'mqtt_connected').length > 0 || current.child.exitCode !== null,
          30_000,
          current.logs,
        );
        assert.is(eventsIn(agent.logs(), 'mqtt_connected').length, 1, agent.logs());
        const key = join(AGENT_STATE, 'live', 'key.pem');
        assert.is(statSync(key).mode & 0o777, 0o600);
        assert.is(statSync(key).uid, Number(sh('id', ['-u', 'fleetcert-agent']).trim()), 'the key belongs to the agent user');

        // A broker host's CRL sync, as its unit runs it (root), from the distribution point on the installed serve's EST port.
        const syncEnv = {
          ...environmentFile(await readFile('/etc/default/fleetcert-crl-sync', 'utf8')),
          FLEETCERT_CRL_URL: `http://127.0.0.1:${port}/crl/issuing-ca.crl`,
          FLEETCERT_CRL_OUT: join(brokerDir, 'crl.pem'),
          FLEETCERT_CRL_CA: join(brokerDir, 'ca.pem'),
          FLEETCERT_CRL_RELOAD: `kill -HUP $(cat ${join(pidDir, 'mosquitto.pid')})`,
        };
        const [syncProgram, ...syncArgs] = execStart(await readFile(join(UNITS, 'fleetcert-crl-sync.service'), 'utf8'), syncEnv);
        const sync = await run(syncProgram!, syncArgs, { env: { PATH: '/usr/local/bin:/usr/bin:/bin' } });
        assert.is(sync.code, 0, sync.stdout + sync.stderr);
        assert.match(sync.stdout, /CRL #\d+/);
      } finally {
        agent?.child.kill('SIGTERM');
        server.child.kill('SIGTERM');
        if (agent) assert.is(await agent.exited, 0, agent.logs());
        assert.is(await server.exited, 0, server.logs());
        await broker.stop();
      }
    });

    // Removal keeps the device's key and certificate; purge deletes them.
    const remove = await run('apt-get', ['remove', '-y', '-q', 'fleetcert-agent'], APT);
    assert.is(remove.code, 0, remove.stderr);
    assert.ok(existsSync(join(AGENT_STATE, 'live', 'key.pem')), 'remove keeps the key');
    assert.ok(existsSync('/etc/default/fleetcert-agent'), 'remove keeps the conffile');
  } finally {
    const purge = await run('apt-get', ['purge', '-y', '-q', ...PACKAGES], APT);
    // The server's purge keeps its CA on purpose; this test made it, so it goes.
    sh('rm', ['-rf', SERVER_DATA, '/etc/fleetcert']);
    for (const user of ['fleetcert-agent', 'fleetcert']) if (!usersBefore.has(user)) await run('deluser', ['--system', '--quiet', user]);
    assert.is(purge.code, 0, purge.stderr);
  }
  assert.not.ok(existsSync(AGENT_STATE), 'purge deletes the key and certificates');
  assert.not.ok(existsSync('/etc/default/fleetcert-agent'), 'purge deletes the conffile');
});

test.run();
