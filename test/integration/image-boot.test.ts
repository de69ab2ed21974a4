/**
 * Baked images boot into enrolled devices, emulated: the Pi OS-shaped arm64 image and the
 * Armbian-shaped armhf image (Debian's own nodejs, dash, coreutils) are baked with a real fleet's
 * bootstrap file, each root partition is copied out with `debugfs rdump` (the FAT bootstrap file
 * put where the board mounts it), and the baked unit's own ExecStart= line runs in a chroot as
 * the unit's User=, under qemu-user registered with the F flag in a private binfmt_misc (a user
 * namespace's own, kernel >= 6.7), inside a private network namespace with the real server
 * (serve --mdns) and Mosquitto. Nothing is typed on the "board": no --broker, no URL; it finds
 * both by mDNS, enrolls and connects over mutual TLS; the unit's ExecStartPost= then moves the
 * token off the boot partition. The user namespace maps every id (written from outside, as
 * root), so the chroot can switch to the agent's uid. The boards' identities are a real Pi 4's
 * /proc/cpuinfo and a real OrangePi PC's device tree (test/fixtures/boards).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { boardRoot, type BoardName } from '../helpers/boards.js';
import { buildImage, stageRoot, sysrootOf, type ImageShape } from '../helpers/board-image.js';
import { fleetcert, SERVER_MAIN } from '../helpers/cli.js';
import { initDataDir } from '../helpers/fleet-server.js';
import { eventsIn } from '../helpers/agent-process.js';
import { repoPath } from '../helpers/repo.js';
import { run } from '../helpers/run.js';

const SLOW = { timeoutMs: 180_000 };
/** Node 18 under qemu takes seconds to start; the agent's first enrollment many times that. */
const EMULATED_MS = 150_000;
/** qemu-user registered as binfmt_misc's own (F: opened now, so it works inside the chroot). */
const BINFMT: Record<'arm64' | 'armhf', string> = {
  arm64:
    ':qemu-aarch64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:' +
    '\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:/usr/bin/qemu-aarch64-static:F',
  armhf:
    ':qemu-arm:M::\\x7fELF\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x28\\x00:' +
    '\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:/usr/bin/qemu-arm-static:F',
};

interface Fleet {
  readonly dir: string;
  readonly dataDir: string;
  readonly passphraseFile: string;
  readonly bootstrap: string;
  readonly deb: string;
}

const ctx: { fleet?: Fleet } = {};

test.before(async () => {
  assert.is(process.getuid?.(), 0, 'mapping every id into the user namespace needs root (CI runs as root)');
  const dir = await mkdtemp(join(tmpdir(), 'fleetcert-image-boot-'));
  await chmod(dir, 0o755);
  // The fleet: CA, broker config (fixed ports: each network namespace is private), a token.
  const { dataDir, passphraseFile } = await initDataDir(dir);
  const runDir = join(dir, 'run');
  await mkdir(runDir);
  await run('chown', ['mosquitto', runDir]);
  const config = await fleetcert(
    ['broker-config', '--data-dir', dataDir, '--passphrase-file', passphraseFile, '--out', join(dir, 'broker'), '--port', '18883'].concat([
      '--bind',
      '127.0.0.1',
      '--admin-port',
      '18884',
      '--host',
      'localhost',
      '--reload-pid-file',
      join(runDir, 'mosquitto.pid'),
    ]),
  );
  assert.is(config.code, 0, config.stderr);
  await writeFile(
    join(dir, 'mosquitto.conf'),
    `pid_file ${join(runDir, 'mosquitto.pid')}\npersistence false\nlog_dest stderr\ninclude_dir ${join(dir, 'broker')}\n`,
  );
  const bootstrap = join(dir, 'fleetcert.json');
  const token = await fleetcert(['token', 'create', '--data-dir', dataDir, '--name', 'images', '--uses', '4', '--out', bootstrap]);
  assert.is(token.code, 0, token.stderr);
  if (!existsSync(repoPath('dist', 'bundle', 'fleetcert-agent.mjs'))) {
    assert.is((await run(process.execPath, [repoPath('scripts', 'bundle-agent.mjs')], SLOW)).code, 0);
  }
  const { buildAgentPackage } = (await import(repoPath('scripts', 'package-debs.mjs'))) as { buildAgentPackage: (d: string) => string };
  ctx.fleet = { dir, dataDir, passphraseFile, bootstrap, deb: buildAgentPackage(dir) };
});
test.after(async () => {
  if (ctx.fleet) await rm(ctx.fleet.dir, { recursive: true, force: true });
});

const BOARDS = [
  { arch: 'arm64', shape: 'pi-os', board: 'rpi4-bookworm-arm64', deviceId: 'rpi4-100000002a5c3b71' },
  { arch: 'armhf', shape: 'armbian', board: 'orangepi-pc-armbian', deviceId: 'opi-pc-2c00081a1b2c3d4' },
] as const satisfies readonly { arch: 'arm64' | 'armhf'; shape: ImageShape; board: BoardName; deviceId: string }[];

for (const { arch, shape, board, deviceId } of BOARDS) {
  test(`${shape} ${arch}, baked, emulated: the unit's ExecStart as its User= finds the server by mDNS, enrolls, connects`, async () => {
    const fleet = ctx.fleet!;
    const dir = join(fleet.dir, arch);
    await mkdir(dir);
    await chmod(dir, 0o755);
    const started = Date.now();
    const userland = await sysrootOf(arch);
    const shell = await sysrootOf(arch, ['dash', 'coreutils']);
    const image = await buildImage(dir, shape, await stageRoot(dir, shape, userland, [shell]), 180);
    const out = join(dir, 'baked.img');
    const baked = await fleetcert(
      ['image', 'bake', image.path, '--bootstrap', fleet.bootstrap, '--agent', fleet.deb, '--out', out, '--json'],
      SLOW,
    );
    assert.is(baked.code, 0, baked.stderr);
    const report = JSON.parse(baked.stdout) as { account: { uid: number; gid: number }; bootstrapPath: string };
    const bakedMs = Date.now() - started;

    // The card's root partition as the board sees it, the FAT partition's file (Pi OS) where it mounts.
    const root = join(dir, 'root');
    await mkdir(root);
    const spec = `${out}?offset=${image.rootOffset}`;
    const top = (await run('debugfs', ['-R', 'ls -p /', spec])).stdout
      .split('\n')
      .map((l) => l.split('/')[5])
      .filter((n): n is string => n !== undefined && !['', '.', '..', 'lost+found'].includes(n));
    for (const name of top) {
      const res = await run('debugfs', ['-R', `rdump "/${name}" "${root}"`, spec], SLOW);
      assert.is(res.stderr.replace(/^debugfs .*\n/, ''), '', res.stderr);
    }
    if (image.bootOffset !== undefined) {
      const fat = await run('mtype', ['-i', `${out}@@${image.bootOffset}`, '::/fleetcert.json'], {
        env: { ...process.env, MTOOLS_SKIP_CHECK: '1' },
      });
      await mkdir(join(root, 'boot', 'firmware'), { recursive: true });
      await writeFile(join(root, report.bootstrapPath), fat.stdout);
    }
    // What the board's kernel would show: its /proc/cpuinfo and device tree (no /proc is mounted in the chroot).
    await cp(boardRoot(board), root, { recursive: true });
    const unit = await readFile(join(root, 'usr/lib/systemd/system/fleetcert-agent.service'), 'utf8');
    const execStart = /^ExecStart=(.*)$/m.exec(unit)![1]!;
    const user = /^User=(.*)$/m.exec(unit)![1]!;
    // Its prefixes ("-+") are systemd's: ignore failure, run privileged.
    const execStartPost = /^ExecStartPost=[-+!@:]*(.*)$/m.exec(unit)![1]!;
    assert.match(await readFile(join(root, report.bootstrapPath), 'utf8'), /"token": "fct_/, 'the card starts with the token');
    const passwd = await readFile(join(root, 'etc/passwd'), 'utf8');
    const [uid, gid] = new RegExp(`^${user}:x:(\\d+):(\\d+):`, 'm').exec(passwd)!.slice(1).map(Number);
    assert.equal([uid, gid], [report.account.uid, report.account.gid]);

    const log = (name: string) => join(dir, name);
    const script = `
      set -u
      # Wait for the test to map every id into this user namespace (as newuidmap would).
      for i in $(seq 100); do grep -q . /proc/self/gid_map && break; sleep 0.05; done
      mount -t proc proc /proc
      mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
      printf '%s' '${BINFMT[arch]}' > /proc/sys/fs/binfmt_misc/register
      ip link set lo up
      # qemu-user does not translate IP_MULTICAST_IF (ENOPROTOOPT), so the emulated board's queries
      # take the multicast route, and a namespace with only lo has none (a real board's is eth0's).
      ip route add 224.0.0.0/4 dev lo
      mosquitto -c "${fleet.dir}/mosquitto.conf" > /dev/null 2> "${log('mosquitto.log')}" &
      "${process.execPath}" "${SERVER_MAIN}" serve --data-dir "${fleet.dataDir}" --passphrase-file "${fleet.passphraseFile}" \\
        --listen 127.0.0.1:0 --json --mdns --mdns-interface lo > "${log('serve.json')}" 2> "${log('serve.log')}" &
      for i in $(seq 100); do [ -s "${log('serve.json')}" ] && break; sleep 0.1; done
      chroot --userspec=${uid}:${gid} "${root}" ${execStart} > "${log('agent.log')}" 2>&1 &
      agent=$!
      # Ready (connected): systemd then runs ExecStartPost=, privileged ("+"): the token leaves the boot partition.
      for i in $(seq ${EMULATED_MS / 100}); do grep -q '"event":"mqtt_connected"' "${log('agent.log')}" && break; sleep 0.1; done
      chroot "${root}" ${execStartPost} > "${log('post.log')}" 2>&1
      echo $? > "${log('post.rc')}"
      wait $agent
    `;
    // The agent runs until the board is connected and ExecStartPost= has run; then the namespace goes
    // (--kill-child: its pid 1 ends, and the kernel ends everything in the pid namespace).
    const t0 = Date.now();
    const child = spawn('unshare', ['--user', '--mount', '--pid', '--net', '--fork', '--kill-child', 'bash', '-c', script], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await new Promise((r) => setTimeout(r, 200));
    await writeFile(`/proc/${child.pid}/uid_map`, '0 0 65536\n');
    await writeFile(`/proc/${child.pid}/gid_map`, '0 0 65536\n');
    let agentLog = '';
    const deadline = Date.now() + EMULATED_MS;
    while (Date.now() < deadline && child.exitCode === null) {
      agentLog = await readFile(log('agent.log'), 'utf8').catch(() => '');
      if (existsSync(log('post.rc'))) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const runMs = Date.now() - t0;
    // unshare --fork ignores SIGTERM while it waits; SIGKILL it, and --kill-child takes the namespace down.
    child.kill('SIGKILL');
    await exited;
    const serveLog = await readFile(log('serve.log'), 'utf8').catch(() => '');
    assert.ok(
      eventsIn(agentLog, 'mqtt_connected').length > 0,
      `the emulated board did not connect:\n${stderr}\n--- agent\n${agentLog}\n--- serve\n${serveLog.slice(-3000)}`,
    );

    assert.ok(eventsIn(agentLog, 'broker_discovered').length >= 1, 'found over mDNS, nothing configured');
    const installed = eventsIn(agentLog, 'certificate_installed')[0] as { deviceId?: string } | undefined;
    assert.is(installed?.deviceId, deviceId, "the id comes from the board's own serial");
    const connected = eventsIn(agentLog, 'mqtt_connected')[0] as { clientId?: string };
    assert.is(connected.clientId, deviceId);
    const device = await fleetcert(['device', 'show', deviceId, '--json', '--data-dir', fleet.dataDir]);
    assert.is(device.code, 0, device.stderr);
    assert.is(JSON.parse(device.stdout).certificates.filter((c: { status: string }) => c.status === 'active').length, 1);
    assert.is((await readFile(log('post.rc'), 'utf8')).trim(), '0', await readFile(log('post.log'), 'utf8'));
    const card = await readFile(join(root, report.bootstrapPath), 'utf8');
    assert.not.match(card, /fct_/, 'no token left on the boot partition after enrollment');
    assert.match(card, /"tokenMovedTo": "\/var\/lib\/fleetcert-agent\/bootstrap\.json"/);
    console.log(
      `[image-boot] ${shape} ${arch}: image + bake ${bakedMs} ms; emulated start to connected and token moved off the card ${runMs} ms`,
    );
    await rm(dir, { recursive: true, force: true });
  });
}

test.run();
