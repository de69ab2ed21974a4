/**
 * A real Mosquitto for tests: the Debian `mosquitto` binary, started with a generated main
 * config that includes the directory `fleetcert broker-config` wrote (as Debian's conf.d
 * does). Run as root it drops to the `mosquitto` user, like a real install, so the files
 * must really be readable by it. `sys_interval 1` makes $SYS traffic real within a test's time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stopProcess } from './stop-process.js';

export interface Broker {
  readonly pidFile: string;
  readonly pid: number;
  logs(): string;
  stop(): Promise<void>;
}

/**
 * `pidFile` must be writable by the user Mosquitto runs as (it writes it after dropping root).
 * `extraConfig` goes after the include, e.g. a test observer's listener.
 */
export async function startMosquitto(
  workDir: string,
  includeDir: string,
  pidFile: string,
  extraConfig = '',
  /** Runs mosquitto behind this command line, e.g. `ip netns exec <ns>` (test/helpers/netns.ts). */
  prefix: readonly string[] = [],
): Promise<Broker> {
  // mkdtemp makes 0700 directories; the mosquitto user must be able to traverse them.
  if (process.getuid?.() === 0) await chmod(workDir, 0o755);
  const conf = join(workDir, 'mosquitto.conf');
  await writeFile(
    conf,
    `pid_file ${pidFile}\npersistence false\nlog_dest stderr\nlog_type all\nsys_interval 1\ninclude_dir ${includeDir}\n${extraConfig}`,
  );
  const [command, ...args] = [...prefix, 'mosquitto', '-c', conf];
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let logs = '';
  child.stderr!.on('data', (c: Buffer) => (logs += c.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mosquitto did not start:\n${logs}`)), 10_000);
    const check = setInterval(() => {
      if (/mosquitto version [\d.]+ running/.test(logs)) {
        clearInterval(check);
        clearTimeout(timer);
        resolve();
      }
    }, 25);
    exited
      .then(() => {
        clearInterval(check);
        clearTimeout(timer);
        reject(new Error(`mosquitto exited:\n${logs}`));
      })
      .catch(reject);
  });
  return {
    pidFile,
    pid: child.pid!,
    logs: () => logs,
    stop: async () => {
      await stopProcess(
        child,
        exited.then(() => child.exitCode),
        'mosquitto',
      );
    },
  };
}
