/** Every problem of a failed schema check with its path: "broker: must be host:port; keyType: ...". */
import type { z } from 'zod';

export function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; ');
}
