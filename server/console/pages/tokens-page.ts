/** Fleet tokens: uses left, expiry, scope; create (the bootstrap file is the answer, once) and revoke. */
import { parseDuration } from '../../../shared/duration.js';
import { FleetcertError } from '../../../shared/errors.js';
import { bootstrapFileSchema } from '../../../shared/protocol/bootstrap-file.js';
import { APPROVAL_MODES, REENROLL_MODES } from '../../registry/records.js';
import { buildBootstrapFile } from '../../tokens/bootstrap-file.js';
import { newToken, parseLabels } from '../../tokens/new-token.js';
import { tokenState } from '../../tokens/token-scope.js';
import { minute } from '../../commands/format.js';
import { mapText, page, redirect, type ConsoleReply, type PageRequest } from '../console-context.js';
import { oneOf } from './devices-page.js';
import { noticeText } from './notices.js';

export async function tokensPage(req: PageRequest, options: { status?: number; error?: string } = {}): Promise<ConsoleReply> {
  const tokens = (await req.deps.registry.listTokens()).reverse().map((t) => ({
    id: t.id,
    name: t.name,
    state: tokenState(t, req.now),
    usesLeft: t.maxUses === null ? 'unlimited' : String(Math.max(0, t.maxUses - t.uses)),
    expires: t.expiresAt ? minute(t.expiresAt) : 'never',
    scope: `ids ${t.idPattern ?? '*'}, approval ${t.approval}, re-enroll ${t.reenroll}, labels ${mapText(t.labels)}`,
  }));
  return page(
    req,
    'tokens',
    { tokens, canAct: req.admin.role === 'operator' },
    { title: 'Tokens', nav: 'tokens', ...noticeText(req.url.searchParams.get('done')), ...options },
  );
}

/** Creates a token and answers with its bootstrap file as a download: the only time the secret leaves the server. */
export async function createToken(req: PageRequest): Promise<ConsoleReply> {
  const f = req.form;
  const name = (f.get('name') ?? '').trim();
  const usesText = (f.get('uses') ?? '').trim();
  const expiresText = (f.get('expires') ?? '').trim();
  const expiresSeconds = expiresText === 'never' ? undefined : parseDuration(expiresText);
  const approval = oneOf(f.get('approval'), APPROVAL_MODES);
  const reenroll = oneOf(f.get('reenroll'), REENROLL_MODES);
  const maxUses = usesText === '' ? null : Number(usesText);
  const problem =
    name.length === 0 || name.length > 64
      ? 'a name of 1 to 64 characters'
      : maxUses !== null && (!Number.isSafeInteger(maxUses) || maxUses < 1)
        ? 'uses: a whole number of 1 or more, or empty'
        : expiresText !== 'never' && expiresSeconds === undefined
          ? 'expires: a duration such as 14d, or never'
          : !approval || !reenroll
            ? 'approval and re-enrollment modes'
            : undefined;
  if (problem) return tokensPage(req, { status: 400, error: `Not created: give ${problem}.` });
  const idPattern = (f.get('idPattern') ?? '').trim() || null;
  const labelText = (f.get('labels') ?? '').trim();
  let fresh;
  try {
    const labels = parseLabels(labelText === '' ? [] : labelText.split(',').map((l) => l.trim()));
    fresh = newToken({ name, expiresSeconds, maxUses, idPattern, labels, approval: approval!, reenroll: reenroll! }, req.now);
  } catch (err) {
    if (err instanceof FleetcertError && err.code === 'usage')
      return tokensPage(req, { status: 400, error: `Not created: ${err.message}.` });
    throw err;
  }
  const bootstrap = bootstrapFileSchema.parse(buildBootstrapFile(fresh.token, req.deps.root, undefined));
  await req.deps.registry.createToken(fresh.record, req.source);
  req.deps.log.info('token created from the console', { event: 'console_token_created', tokenId: fresh.record.id, admin: req.admin.name });
  return {
    status: 200,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'content-disposition': 'attachment; filename="fleetcert.json"',
    },
    body: JSON.stringify(bootstrap, null, 2) + '\n',
  };
}

export async function revokeToken(req: PageRequest): Promise<ConsoleReply> {
  const id = req.params[0]!;
  if (!(await req.deps.registry.revokeToken(id, req.now, req.source)))
    throw new FleetcertError('token_not_found', `no token "${id.slice(0, 64)}"`);
  return redirect('/tokens?done=token_revoked');
}
