/** `fleetcert-agent renew`: renew the certificate now if it is due (or with --force). */
import { Command, Option } from 'commander';
import type { CliIo } from '../../shared/cli/run-cli.js';
import { FleetcertError } from '../../shared/errors.js';
import { describeCertificate } from '../../shared/pki/certificate.js';
import { CredentialStore } from '../credentials/credential-store.js';
import { refuseForeignCredentials } from '../credentials/hardware-binding.js';
import { resolveIdentity } from '../identity/resolve-identity.js';
import { notifyRunningAgent } from '../runtime/agent-status.js';
import { endpointsFromInfo, readBrokerInfo } from '../discovery/endpoints.js';
import { checkRenewalDue } from '../renewal/check-renewal-due.js';
import { renewCertificate } from '../renewal/renew-certificate.js';
import { addCommonOptions, agentContext, type CommonOptions } from './options.js';
import { renewalParams } from './renewal-params.js';

export function renewCommand(io: CliIo): Command {
  const command = new Command('renew')
    .summary('renew the certificate now (with a new key) if it is due')
    .description(
      'Renew over mutual TLS with the current certificate and a new key, install the result as a candidate ' +
        'generation, prove it with a short mutual-TLS connection to the broker, then make it live and run the hooks; ' +
        'a candidate that cannot connect is kept and the previous certificate stays live (exit 5, renewal_unproven; ' +
        'the next renewal proves it again). Without --force only once due, by the rule of the service and of ' +
        "needs-renewal (a point in the server's renewal window, else in the default one near 2/3 of the lifetime). " +
        'A certificate the server will not renew (expired past the grace window, revoked) falls back to the bootstrap token ' +
        'if a bootstrap file is there. Never runs ' +
        'at the same time as the renewal of a running agent (exit 4 while one is in progress); the running ' +
        'agent is told at once (SIGHUP, to the pid in its status file) and connects with the new certificate.',
    )
    .addOption(new Option('--force', 'renew even if the certificate is not due yet'))
    .addHelpText(
      'after',
      `
Examples:
  fleetcert-agent renew            # only if due
  fleetcert-agent renew --force --json`,
    );
  return addCommonOptions(command).action(async (options: CommonOptions & { force?: boolean }) => {
    const { config, layout, log } = await agentContext(options);
    // Never renew another board's certificate (a cloned card); the service sets it aside.
    await refuseForeignCredentials(layout, await resolveIdentity(config.identityRoot, config.idTemplate, layout));
    const store = new CredentialStore(layout, log);
    const info = await readBrokerInfo(layout.brokerInfo);
    const live = await store.requireLive();
    if (!info)
      throw new FleetcertError('config_invalid', `${layout.brokerInfo} is missing: the enrollment endpoint is unknown`, {
        hint: 'run "fleetcert-agent enroll" once',
      });
    const endpoints = endpointsFromInfo(info);
    // A renewal left unfinished (a candidate not yet proven, a key still pending) is finished whether due or not.
    const unfinished = live.candidate !== undefined || (await store.hasPendingKey());
    if (!options.force && !unfinished) {
      // The same rule as the service's schedule and needs-renewal; the server's window wins.
      const { due, dueFrom } = await checkRenewalDue(store, endpoints.enroll, log, new Date());
      if (!due) {
        io.stdout(
          options.json
            ? JSON.stringify({ ok: true, renewed: false, dueFrom: dueFrom.toISOString() }) + '\n'
            : `Not due yet: renewal opens ${dueFrom.toISOString()} (use --force to renew now).\n`,
        );
        return;
      }
    }
    const { live: renewed, via } = await renewCertificate(await renewalParams(config, layout, endpoints, log));
    const next = describeCertificate(renewed.certificate);
    const signalled = await notifyRunningAgent(layout.statusFile, log);
    io.stdout(
      options.json
        ? JSON.stringify({
            ok: true,
            renewed: true,
            via,
            serialNumber: next.serialNumber,
            notAfter: next.notAfter.toISOString(),
            generation: renewed.generation,
            agentSignalled: signalled ?? null,
          }) + '\n'
        : `${via === 'renewed' ? 'Renewed' : 'Enrolled again with the bootstrap token'}: serial ${next.serialNumber}, ` +
            `valid until ${next.notAfter.toISOString()} (generation ${renewed.generation}).\n` +
            (signalled ? `The running agent (pid ${signalled}) connects with it now.\n` : ''),
    );
  });
}
