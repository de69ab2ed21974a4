/**
 * Tells systemd that the agent is up (`Type=notify`): READY=1 once, after the first verified
 * mutual-TLS connection, so units ordered after fleetcert-agent.service start with credentials
 * that work. Node has no unix datagram socket, so the message goes through `systemd-notify`,
 * which (systemd >= 246, Debian 12 has 252) waits until PID 1 has processed it: the message is
 * attributed to the unit although the helper exits at once (the unit says NotifyAccess=all).
 * Fail-soft: without NOTIFY_SOCKET (not under systemd, or Type=simple) it does nothing, and a
 * failing helper is logged, never fatal; systemd's start timeout is the backstop.
 */
import { execFile } from 'node:child_process';
import type { Logger } from '../../shared/log/logger.js';

export interface SystemdNotifierOptions {
  /** `$NOTIFY_SOCKET` as the command read it; undefined = not started by systemd as Type=notify. */
  readonly socket: string | undefined;
  readonly log: Logger;
  readonly command?: string;
}

export class SystemdNotifier {
  private readySent = false;

  constructor(private readonly options: SystemdNotifierOptions) {}

  ready(status: string): void {
    const { socket, log, command = 'systemd-notify' } = this.options;
    if (socket === undefined || socket === '' || this.readySent) return;
    this.readySent = true;
    // The helper inherits the environment, NOTIFY_SOCKET included: it finds the socket itself.
    execFile(command, ['--ready', `--status=${status}`], { timeout: 10_000 }, (err, _out, stderr) => {
      if (err)
        log.warn('could not tell systemd the agent is ready', {
          event: 'systemd_notify_failed',
          error: err.message,
          stderr: stderr.slice(0, 200),
        });
      else log.info('told systemd the agent is ready', { event: 'systemd_ready', status });
    });
  }
}
