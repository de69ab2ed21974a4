/** GET /fleetcert/v1/renewal-info: when the certificate presented over mTLS should renew (JSON). */
import type { IncomingMessage } from 'node:http';
import { jsonReply, type Reply } from '../replies.js';
import type { HandlerContext } from './context.js';

export async function renewalInfo(_req: IncomingMessage, ctx: HandlerContext): Promise<Reply> {
  const info = await ctx.service.renewalInfo(ctx.peerCertificate, ctx.request);
  return jsonReply(info, { 'retry-after': String(ctx.renewalInfoRetrySeconds) });
}
