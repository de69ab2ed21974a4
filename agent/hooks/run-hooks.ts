/**
 * Post-install hooks (certbot's deploy hooks): every executable in the hooks directory runs,
 * in name order, after a certificate is installed, with the stable paths in its environment,
 * e.g. to restart Node-RED. A failing hook is reported, never fatal: the certificate is in.
 */
import { execFile } from 'node:child_process';
import { access, constants, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../shared/log/logger.js';
import type { CredentialFiles } from '../config/state-layout.js';

export const HOOK_TIMEOUT_MS = 60_000;

export interface HookContext {
  readonly deviceId: string;
  readonly files: CredentialFiles;
  readonly generation: string;
  readonly event: 'installed' | 'renewed';
}

export interface HookResult {
  readonly hook: string;
  readonly ok: boolean;
  readonly detail: string;
}

export async function runHooks(dir: string, context: HookContext, log: Logger): Promise<HookResult[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => !n.startsWith('.')).sort();
  const results: HookResult[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const info = await stat(path).catch(() => undefined);
    if (
      !info?.isFile() ||
      !(await access(path, constants.X_OK).then(
        () => true,
        () => false,
      ))
    )
      continue;
    const env = {
      ...process.env,
      FLEETCERT_EVENT: context.event,
      FLEETCERT_DEVICE_ID: context.deviceId,
      FLEETCERT_GENERATION: context.generation,
      FLEETCERT_KEY: context.files.key,
      FLEETCERT_CERT: context.files.cert,
      FLEETCERT_CHAIN: context.files.chain,
      FLEETCERT_CA: context.files.ca,
    };
    const result = await new Promise<HookResult>((resolve) => {
      execFile(path, [], { env, timeout: HOOK_TIMEOUT_MS }, (err, _stdout, stderr) => {
        if (!err) resolve({ hook: name, ok: true, detail: 'ok' });
        else
          resolve({
            hook: name,
            ok: false,
            detail:
              (err.killed ? `timed out after ${HOOK_TIMEOUT_MS / 1000} s` : `exit ${err.code ?? err.signal}`) +
              (stderr ? `: ${stderr.trim().slice(0, 300)}` : ''),
          });
      });
    });
    if (result.ok) log.info('hook ran', { hook: name });
    else log.warn('hook failed (the certificate is installed anyway)', { event: 'hook_failed', hook: name, detail: result.detail });
    results.push(result);
  }
  return results;
}
