/**
 * After an enrollment with a token from the boot partition, the token leaves it: the FAT boot
 * partition is readable by anyone who pulls the SD card. The whole bootstrap file is copied into
 * the 0700 state directory (0600; the expired-certificate fallback enrolls with it), then the
 * boot-partition file is rewritten without the token (write new, fsync, rename), every other field
 * kept so the CA pin and the URL stay for a re-flash, plus `tokenMovedTo`. Never fatal: a read-only
 * boot partition is reported once with what to do, and the device goes on.
 */
import { chown, stat } from 'node:fs/promises';
import type { Logger } from '../../shared/log/logger.js';
import { writeFileAtomic } from '../../shared/fs/write-file-atomic.js';
import type { BootstrapFile } from '../../shared/protocol/bootstrap-file.js';
import { findBootstrap, parseBootstrapFile, readBootstrapText } from '../config/bootstrap.js';
import type { FoundToken } from '../config/bootstrap-token.js';
import { stripBom } from '../config/agent-config.js';
import type { StateLayout } from '../config/state-layout.js';

export type TokenMove = 'moved' | 'kept_in_state' | 'boot_read_only' | 'boot_not_writable' | 'boot_changed' | 'failed';

export async function moveTokenOffBoot(found: FoundToken, layout: StateLayout, log: Logger): Promise<TokenMove> {
  if (found.location === 'state_dir') return 'kept_in_state';
  try {
    await writeFileAtomic(layout.bootstrapCopy, JSON.stringify(found.bootstrap, null, 2) + '\n', { mode: 0o600 });
    await ownLikeStateDir(layout.bootstrapCopy, layout);
  } catch (err) {
    // Without the copy the boot file must keep the token: it is the only one left.
    log.warn('could not keep the bootstrap token in the state directory; leaving it on the boot partition', {
      event: 'bootstrap_token_not_moved',
      reason: 'state_copy_failed',
      errno: (err as NodeJS.ErrnoException).code,
      path: found.path,
    });
    return 'failed';
  }
  return rewriteWithoutToken(found.path, found.bootstrap, layout.bootstrapCopy, log);
}

async function rewriteWithoutToken(path: string, enrolledWith: BootstrapFile, movedTo: string, log: Logger): Promise<TokenMove> {
  try {
    // Read again right before rewriting: a file an operator replaced meanwhile, or one that no
    // longer parses, is left exactly as it is.
    const text = await readBootstrapText(path);
    const now = text === undefined ? undefined : tryParse(path, text);
    if (!now || !('token' in now) || now.token !== enrolledWith.token) {
      log.warn('the bootstrap file changed since it was read; not rewriting it', {
        event: 'bootstrap_token_not_moved',
        reason: 'file_changed',
        path,
      });
      return 'boot_changed';
    }
    // Every field as the operator wrote it (not as parsed), minus the token.
    const { token: _token, ...rest } = JSON.parse(stripBom(text!)) as Record<string, unknown>;
    await writeFileAtomic(path, JSON.stringify({ ...rest, tokenMovedTo: movedTo }, null, 2) + '\n', { mode: null });
    log.info('the bootstrap token left the boot partition', { event: 'bootstrap_token_moved', from: path, to: movedTo });
    return 'moved';
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    const why = bootWriteFailure(errno);
    log.warn(why.message, {
      event: 'bootstrap_token_not_moved',
      reason: why.reason,
      errno,
      path,
      stateCopy: movedTo,
      hint:
        why.reason === 'not_permitted'
          ? `the agent's user may not write ${path}: the packaged unit moves it as root ` +
            `(ExecStartPost=+fleetcert-agent move-token), or delete it (the agent has its copy in ${movedTo})`
          : `the agent no longer needs ${path} (its copy is in ${movedTo}): delete it, or let the agent write it (ReadWritePaths=, rw mount)`,
    });
    return why.result;
  }
}

/** Why the boot file could not be rewritten: a read-only mount is not a missing permission, and each has its own remedy (pure). */
export function bootWriteFailure(errno: string | undefined): {
  reason: 'read_only' | 'not_permitted' | 'write_failed';
  message: string;
  result: TokenMove;
} {
  if (errno === 'EROFS') {
    return {
      reason: 'read_only',
      message: 'the boot partition is read-only: the bootstrap token stays readable there',
      result: 'boot_read_only',
    };
  }
  if (errno === 'EACCES' || errno === 'EPERM') {
    return {
      reason: 'not_permitted',
      message: "the agent's user may not rewrite the bootstrap file: the token stays readable there",
      result: 'boot_not_writable',
    };
  }
  return { reason: 'write_failed', message: 'could not rewrite the bootstrap file without its token', result: 'failed' };
}

function tryParse(path: string, text: string): ReturnType<typeof parseBootstrapFile> | undefined {
  try {
    return parseBootstrapFile(path, text);
  } catch {
    return undefined;
  }
}

/**
 * Enrolled, yet a bootstrap file still holds a token: left by an agent version that did not move
 * it, by a boot partition that was read-only, or by an agent that runs unprivileged while the boot
 * partition belongs to root (Raspberry Pi OS mounts its FAT partition so). It moves now; a file
 * that does not parse stays as it is and does not stop an enrolled device.
 */
export async function moveLeftoverToken(bootstrapFiles: readonly string[], layout: StateLayout, log: Logger): Promise<TokenMove | 'none'> {
  let onBoot;
  try {
    onBoot = await findBootstrap(bootstrapFiles);
  } catch (err) {
    log.warn(`bootstrap file not usable: ${(err as Error).message}`, { event: 'bootstrap_invalid' });
    return 'failed';
  }
  if (!onBoot) return 'none';
  return moveTokenOffBoot({ ...onBoot, location: 'boot_partition' }, layout, log);
}

/**
 * Run as root (`fleetcert-agent move-token` from the unit's privileged ExecStartPost=), a file
 * written into the state directory still belongs to the agent's user.
 */
async function ownLikeStateDir(path: string, layout: StateLayout): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const owner = await stat(layout.root);
  if (owner.uid !== 0) await chown(path, owner.uid, owner.gid);
}
