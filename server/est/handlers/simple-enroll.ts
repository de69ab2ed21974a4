/** POST /.well-known/est/simpleenroll: first certificate, authorised by the fleet token. */
import type { IncomingMessage } from 'node:http';
import { tokenFromAuthorization } from '../basic-auth.js';
import { enrollmentReply, type Reply } from '../replies.js';
import { readCsrBody } from '../request-csr.js';
import type { HandlerContext } from './context.js';

export async function simpleEnroll(req: IncomingMessage, ctx: HandlerContext): Promise<Reply> {
  const csr = await readCsrBody(req, ctx.bodyLimits);
  const result = await ctx.service.enroll(tokenFromAuthorization(req.headers.authorization), csr, ctx.request);
  return enrollmentReply(result);
}
