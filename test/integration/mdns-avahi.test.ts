/**
 * The production path on hosts that run avahi-daemon (issue 14 item 4): `broker-config
 * --avahi-service` writes the service file, a real avahi-daemon (in the server's network
 * namespace, with a private mount and UTS namespace for its services directory, /run and its host
 * name) announces it, and a board with only a bootstrap file discovers the broker, resolves its
 * `.local` name through avahi and enrolls.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AGENT_MAIN, fleetcert } from '../helpers/cli.js';
import { boardRoot } from '../helpers/boards.js';
import { startServer } from '../helpers/fleet-server.js';
import { withNetLab } from '../helpers/netns.js';
import { stopProcess } from '../helpers/stop-process.js';
import { withTempDir } from '../helpers/temp-dir.js';

const HOST = 'fleet-gw.local';

test('broker-config --avahi-service: avahi-daemon announces the broker; a board finds it, resolves it via avahi, enrolls', async () => {
  await withTempDir(async (dir) => {
    const data = { dataDir: join(dir, 'data'), passphraseFile: join(dir, 'ca-passphrase') };
    const init = await fleetcert(['init', '--data-dir', data.dataDir, '--passphrase-file', data.passphraseFile, '--san', HOST, '--json']);
    assert.is(init.code, 0, init.stderr);
    const services = join(dir, 'avahi-services');
    await mkdir(services);
    const serviceFile = join(services, 'fleetcert.service');
    const config = await fleetcert([
      ...['broker-config', '--data-dir', data.dataDir, '--passphrase-file', data.passphraseFile],
      ...['--out', join(dir, 'broker'), '--host', HOST, '--avahi-service', serviceFile, '--enroll-port', '18443', '--json'],
    ]);
    assert.is(config.code, 0, config.stderr);
    assert.is(JSON.parse(config.stdout).avahiService.path, serviceFile);
    assert.match(await readFile(serviceFile, 'utf8'), '<txt-record>fleetcert=18443</txt-record>');
    const boot = join(dir, 'fleetcert.json');
    assert.is((await fleetcert(['token', 'create', '--data-dir', data.dataDir, '--name', 'avahi', '--out', boot])).code, 0);
    await writeFile(
      join(dir, 'avahi-daemon.conf'),
      '[server]\nuse-ipv4=yes\nuse-ipv6=no\nenable-dbus=no\nallow-interfaces=eth0\n[publish]\npublish-hinfo=no\npublish-workstation=no\n',
    );

    await withNetLab(['lan'], async (lab) => {
      const srv = await lab.host('srv', [{ segment: 'lan', address: '10.80.0.1/24' }]);
      const board = await lab.host('board', [{ segment: 'lan', address: '10.80.0.11/24' }]);
      const server = await startServer(dir, ['--listen', '0.0.0.0:18443'], data, lab.prefix(srv));
      const daemonScript =
        `hostname fleet-gw && mount --bind "${services}" /etc/avahi/services && mount -t tmpfs tmpfs /run && ` +
        `exec avahi-daemon -f "${dir}/avahi-daemon.conf" --no-drop-root --no-chroot --no-rlimits`;
      const [command, ...args] = [...lab.prefix(srv), 'unshare', '-mu', 'sh', '-c', daemonScript];
      const avahi = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let avahiLog = '';
      avahi.stdout.on('data', (c: Buffer) => (avahiLog += c.toString()));
      avahi.stderr.on('data', (c: Buffer) => (avahiLog += c.toString()));
      const avahiExited = new Promise<number | null>((resolve) => avahi.on('exit', (code) => resolve(code)));
      try {
        const state = join(dir, 'agent');
        const enroll = await lab.exec(
          board,
          [
            ...[process.execPath, AGENT_MAIN, 'enroll', '--json', '--timeout', '60', '--state-dir', state],
            ...['--bootstrap', boot, '--identity-root', boardRoot('orangepi-pc-armbian')],
          ],
          90_000,
        );
        assert.is(enroll.code, 0, `${enroll.stderr}\n${avahiLog}`);
        const info = JSON.parse(await readFile(join(state, 'broker.json'), 'utf8'));
        assert.equal(info.broker, { host: HOST, port: 8883, servername: HOST });
        assert.is(info.enroll.url, `https://${HOST}:18443`);
        assert.match(avahiLog, 'Host name is fleet-gw.local', 'avahi answered for its own name');
      } finally {
        await server.stop();
        await stopProcess(avahi, avahiExited, 'avahi-daemon');
      }
    });
  });
});

test.run();
