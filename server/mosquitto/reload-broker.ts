/**
 * Makes Mosquitto re-read its files (CRL, certificates): SIGHUP to the pid in a pid file, or a
 * command such as `systemctl reload mosquitto`. SIGHUP applies to new connections only; live
 * sessions are ended separately (admin-listener.ts).
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { FleetcertError } from '../../shared/errors.js';
import type { BrokerSettings } from '../config/broker-settings.js';

export type ReloadResult = 'signalled' | 'command' | 'not-configured';

export async function reloadBroker(reload: BrokerSettings['reload']): Promise<ReloadResult> {
  switch (reload.kind) {
    case 'none':
      return 'not-configured';
    case 'pid-file': {
      let pid: number;
      try {
        pid = Number((await readFile(reload.path, 'utf8')).trim());
      } catch (err) {
        throw new FleetcertError(
          'broker_reload_failed',
          `cannot read the Mosquitto pid file ${reload.path}: ${(err as NodeJS.ErrnoException).code}`,
          {
            hint: 'is mosquitto running? set pid_file in mosquitto.conf, or use --reload-command with broker-config',
          },
        );
      }
      if (!Number.isSafeInteger(pid) || pid <= 1) throw new FleetcertError('broker_reload_failed', `${reload.path} does not hold a pid`);
      try {
        process.kill(pid, 'SIGHUP');
      } catch (err) {
        throw new FleetcertError('broker_reload_failed', `cannot signal Mosquitto (pid ${pid}): ${(err as NodeJS.ErrnoException).code}`, {
          hint: 'fleetcert needs the right to signal mosquitto: run it as root or as the mosquitto user',
        });
      }
      return 'signalled';
    }
    case 'command':
      await new Promise<void>((resolve, reject) => {
        execFile('/bin/sh', ['-c', reload.command], { timeout: 15_000 }, (err, _stdout, stderr) => {
          if (err) reject(new FleetcertError('broker_reload_failed', `"${reload.command}" failed: ${stderr.trim() || err.message}`));
          else resolve();
        });
      });
      return 'command';
  }
}
