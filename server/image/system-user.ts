/**
 * The agent's system account in an image, decided without running anything in it (pure): one
 * number free as both uid and gid in the system range, taken from the top down as
 * systemd-sysusers does (adduser counts up from 100, so the two rarely collide), or the entry
 * already there (baking twice changes nothing).
 */
import { FleetcertError } from '../../shared/errors.js';

export interface SystemAccount {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly gecos: string;
  readonly home: string;
  readonly shell: string;
}

export interface AccountFiles {
  readonly passwd: string;
  readonly group: string;
  readonly shadow: string | undefined;
  readonly gshadow: string | undefined;
}

/** The lines to append to each account file; empty where the entry exists already. */
export interface AccountEdits {
  readonly account: SystemAccount;
  readonly passwd: string;
  readonly group: string;
  readonly shadow: string;
  readonly gshadow: string;
}

const SYSTEM_ID_MAX = 999;
const SYSTEM_ID_MIN = 100;

interface Entry {
  readonly name: string;
  readonly id: number;
  readonly gid: number;
}

function entries(text: string): Entry[] {
  return text
    .split('\n')
    .map((line) => line.split(':'))
    .filter((f) => f.length >= 3 && f[0] !== '')
    .map((f) => ({ name: f[0]!, id: Number(f[2]), gid: Number(f[3]) }));
}

function hasName(text: string | undefined, name: string): boolean {
  return text !== undefined && text.split('\n').some((line) => line.startsWith(`${name}:`));
}

export function planSystemAccount(files: AccountFiles, wanted: { name: string; gecos: string; home: string; shell: string }): AccountEdits {
  const users = entries(files.passwd);
  const groups = entries(files.group);
  const existing = users.find((u) => u.name === wanted.name);
  const existingGroup = groups.find((g) => g.name === wanted.name);
  let uid: number;
  let gid: number;
  if (existing) {
    uid = existing.id;
    gid = existing.gid;
  } else if (existingGroup) {
    gid = existingGroup.id;
    uid = freeId(new Set(users.map((u) => u.id)), gid);
  } else {
    const taken = new Set([...users.map((u) => u.id), ...groups.map((g) => g.id)]);
    uid = gid = freeId(taken);
  }
  const account = { ...wanted, uid, gid };
  const line = (text: string | undefined, has: boolean, entry: string) => (text === undefined || has ? '' : entry + '\n');
  return {
    account,
    passwd: existing ? '' : `${wanted.name}:x:${uid}:${gid}:${wanted.gecos}:${wanted.home}:${wanted.shell}\n`,
    group: existingGroup ? '' : `${wanted.name}:x:${gid}:\n`,
    // A locked password and no ageing: nobody logs in as the agent.
    shadow: line(files.shadow, hasName(files.shadow, wanted.name), `${wanted.name}:!*:::::::`),
    gshadow: line(files.gshadow, hasName(files.gshadow, wanted.name), `${wanted.name}:!::`),
  };
}

/** A sysusers.d(5) line declaring the same account, so the image's own tools agree with it. */
export function sysusersLine(account: SystemAccount): string {
  return `u ${account.name} ${account.uid}:${account.gid} "${account.gecos}" ${account.home} ${account.shell}\n`;
}

/** Appends lines to a file's text, adding the newline a hand-edited last line may lack. */
export function appendLines(text: string, lines: string): string {
  if (lines === '') return text;
  return (text === '' || text.endsWith('\n') ? text : text + '\n') + lines;
}

function freeId(taken: ReadonlySet<number>, prefer?: number): number {
  if (prefer !== undefined && !taken.has(prefer)) return prefer;
  for (let id = SYSTEM_ID_MAX; id >= SYSTEM_ID_MIN; id -= 1) if (!taken.has(id)) return id;
  throw new FleetcertError('image_invalid', 'the image has no free system id between 100 and 999 for the agent');
}
