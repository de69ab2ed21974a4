/**
 * Local broker mode: the Mosquitto the agent runs on the device, as its child, with the agent's
 * user (so only they read the key) and the config bridge-config.ts renders. Started before the
 * agent connects to it, restarted when it dies (its persistence keeps what was queued), and
 * stopped with the agent (SIGTERM: mosquitto saves its queue). The config is written afresh at
 * every start: a moved broker means a new config and a restart; a renewal does not (the bridge
 * reads the live files at every connect).
 * Lifecycle: the constructor assigns, start() spawns and waits for the listener, stop() is final.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { FleetcertError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log/logger.js';
import { writeFileAtomic } from '../../shared/fs/write-file-atomic.js';

export interface LocalBrokerOptions {
  /** The mosquitto executable. */
  readonly mosquitto: string;
  /** Its directory (0700): mosquitto.conf and the persistence file. */
  readonly dir: string;
  readonly listen: { readonly bind: string; readonly port: number };
  readonly log: Logger;
  /** How long start() waits for the listener (default 10 s). */
  readonly startTimeoutMs?: number;
  /** Pause before a child that died is started again (default 5 s). */
  readonly restartDelayMs?: number;
}

/** The last lines mosquitto wrote: what an error says when it would not start. */
const KEPT_LINES = 8;

export class LocalBroker {
  private child: ChildProcess | undefined;
  private config = '';
  private closed = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly lastLines: string[] = [];
  /** Every line mosquitto logs (the bridge's connection failures are only told there). */
  onLog: ((line: string) => void) | undefined;

  constructor(private readonly options: LocalBrokerOptions) {}

  get configFile(): string {
    return join(this.options.dir, 'mosquitto.conf');
  }

  /** Where mosquitto writes its pid (the config says so): a child left behind by a killed agent is found there. */
  get pidFile(): string {
    return join(this.options.dir, 'mosquitto.pid');
  }

  /** Writes `config` and starts mosquitto with it; resolves once its listener accepts connections. */
  async start(config: string): Promise<void> {
    this.config = config;
    await mkdir(this.options.dir, { recursive: true, mode: 0o700 });
    await this.endOrphan();
    await writeFileAtomic(this.configFile, config, { mode: 0o600 });
    await this.spawnAndWait();
  }

  /** A new config (the fleet broker moved): restarts mosquitto with it; queued messages are kept. */
  async reconfigure(config: string): Promise<void> {
    if (this.closed || config === this.config) return;
    this.options.log.info('the local broker restarts with a new bridge address', { event: 'local_broker_reconfigured' });
    await this.kill();
    await this.start(config);
  }

  async stop(): Promise<void> {
    this.closed = true;
    await this.kill();
  }

  private async spawnAndWait(): Promise<void> {
    const { options } = this;
    this.lastLines.length = 0;
    if ((await waitForListener(options.listen, 0)) === true) {
      throw new FleetcertError('local_broker_failed', `${options.listen.bind}:${options.listen.port} is already taken by another program`, {
        hint: 'another Mosquitto? (sudo systemctl disable --now mosquitto), or set localBroker.port in /etc/fleetcert/agent.json',
      });
    }
    const child = spawn(options.mosquitto, ['-c', this.configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    createInterface({ input: child.stderr }).on('line', (line) => this.onLine(line));
    const exited = new Promise<string>((resolve) => {
      child.once('error', (err) => resolve(err.message));
      child.once('exit', (code, signal) => resolve(`exit ${code ?? signal}`));
    });
    child.once('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      if (this.closed) return;
      options.log.error('the local broker stopped; starting it again', {
        event: 'local_broker_exited',
        code,
        signal,
        lastLines: [...this.lastLines],
      });
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        if (!this.closed) this.spawnAndWait().catch((err: unknown) => options.log.error('the local broker did not start', { err }));
      }, options.restartDelayMs ?? 5_000);
    });
    const ready = await Promise.race([waitForListener(options.listen, options.startTimeoutMs ?? 10_000), exited]);
    if (ready === true) {
      options.log.info('the local broker is listening', { event: 'local_broker_started', pid: child.pid, ...options.listen });
      return;
    }
    if (this.child === child) this.child = undefined;
    child.kill('SIGKILL');
    throw new FleetcertError(
      'local_broker_failed',
      `mosquitto (${options.mosquitto}) did not start: ${ready}; ${this.lastLines.join(' | ')}`,
      {
        hint: /in use/i.test(this.lastLines.join(' '))
          ? `port ${options.listen.port} is taken: another Mosquitto? (sudo systemctl disable --now mosquitto), or set localBroker.port`
          : `is mosquitto installed (sudo apt install mosquitto)? Its config: ${this.configFile}`,
      },
    );
  }

  private onLine(line: string): void {
    this.onLog?.(line);
    this.lastLines.push(line);
    if (this.lastLines.length > KEPT_LINES) this.lastLines.shift();
    if (/\b(error|warning)\b/i.test(line)) this.options.log.warn('local broker', { event: 'local_broker_log', line });
    else this.options.log.debug(() => `local broker: ${line}`);
  }

  /**
   * An agent killed outright (kill -9, outside systemd, which would end its whole cgroup) leaves its
   * mosquitto running with the port: ended here if the pid file names a mosquitto with this config.
   */
  private async endOrphan(): Promise<void> {
    const pid = Number((await readFile(this.pidFile, 'utf8').catch(() => '')).trim());
    if (!Number.isSafeInteger(pid) || pid <= 1) return;
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (!cmdline.includes(this.configFile) || !/mosquitto$/.test(cmdline[0] ?? '')) return;
    this.options.log.warn('ending the local broker a previous run left behind', { event: 'local_broker_orphan', pid });
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')) !== ''; i += 1) {
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async kill(): Promise<void> {
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

/** Resolves true once a TCP connect to the listener succeeds, 'timeout' after `timeoutMs`. */
async function waitForListener(listen: { bind: string; port: number }, timeoutMs: number): Promise<true | string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: listen.bind, port: listen.port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return true;
    if (Date.now() >= until) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return `its listener ${listen.bind}:${listen.port} did not answer within ${timeoutMs} ms`;
}
