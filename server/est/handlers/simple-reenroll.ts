/** POST /.well-known/est/simplereenroll: a successor, authorised by the current certificate (mTLS). */
import type { IncomingMessage } from 'node:http';
import { enrollmentReply, type Reply } from '../replies.js';
import { readCsrBody } from '../request-csr.js';
import type { HandlerContext } from './context.js';

export async function simpleReenroll(req: IncomingMessage, ctx: HandlerContext): Promise<Reply> {
  const csr = await readCsrBody(req, ctx.bodyLimits);
  const result = await ctx.service.reenroll(ctx.peerCertificate, csr, ctx.request);
  return enrollmentReply(result);
}
