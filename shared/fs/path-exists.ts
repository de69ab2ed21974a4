/** Whether a path exists (any type); errors other than absence count as "exists" being unknown: false. */
import { access } from 'node:fs/promises';

export async function pathExists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
