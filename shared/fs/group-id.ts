/** Group names to ids, for files shared with another program's group (Mosquitto's, local publishers'). */
import { readFile } from 'node:fs/promises';

/** The numeric id of a group from /etc/group, or undefined if there is no such group. */
export async function groupId(name: string, etcGroup = '/etc/group'): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(etcGroup, 'utf8');
  } catch {
    return undefined;
  }
  for (const entry of text.split('\n')) {
    const [groupName, , gid] = entry.split(':');
    if (groupName === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return undefined;
}
