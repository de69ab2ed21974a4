/** `fleetcert-agent status`: is this device enrolled, with which certificate, until when, and how the running agent is doing. */
import { Command } from 'commander';
import { EXIT } from '../../shared/cli/exit-codes.js';
import { CommandExit, type CliIo } from '../../shared/cli/run-cli.js';
import { describeCertificate } from '../../shared/pki/certificate.js';
import { locateToken } from '../config/bootstrap-token.js';
import { CredentialStore } from '../credentials/credential-store.js';
import { refuseForeignCredentials } from '../credentials/hardware-binding.js';
import { boardIdentity } from '../identity/resolve-identity.js';
import { agentHealth, CONNECT_GRACE_SECONDS, readAgentStatus, type ReadStatus } from '../runtime/agent-status.js';
import { addCommonOptions, agentContext, type CommonOptions } from './options.js';

export function statusCommand(io: CliIo): Command {
  const command = new Command('status')
    .summary("show this device's enrollment and certificate")
    .description(
      'Show whether this device is enrolled, what its live certificate says, a renewed certificate waiting to be proven ' +
        'at the broker (two-phase renewal), if any, where the bootstrap token lives, and what the running agent ' +
        'reports (its status file: connection state, last error, next renewal check).',
    )
    .addHelpText(
      'after',
      `
Exit codes:
  0  enrolled, and the running agent is connected (or no agent is running)
  3  the credential files are corrupt
  5  not enrolled, or the running agent has not connected for ${CONNECT_GRACE_SECONDS} s or more, or the broker refuses
     its certificate (expired, untrusted, clock)
  6  the broker refuses the certificate as revoked

Examples:
  fleetcert-agent status
  fleetcert-agent status --json | jq -r .agent.connection.state   # online, connecting, revoked, ...
  fleetcert-agent status --json | jq -r .notAfter`,
    );
  return addCommonOptions(command).action(async (options: CommonOptions) => {
    const { config, layout, log } = await agentContext(options);
    // A cloned card, before the service has set the other board's credentials aside: not this board's status.
    await refuseForeignCredentials(layout, await boardIdentity(config.identityRoot, config.idTemplate));
    const live = await new CredentialStore(layout, log).requireLive();
    const info = describeCertificate(live.certificate);
    const token = await locateToken(layout, config.bootstrapFiles);
    const now = new Date();
    const agent = await readAgentStatus(layout.statusFile);
    const health = agentHealth(agent, now);
    // Printed as usual, then ended with the code that says whether the service works.
    const done = () => {
      if (health === 'revoked') throw new CommandExit(EXIT.refused);
      if (health === 'unable_to_connect') throw new CommandExit(EXIT.notReady);
    };
    const secondsLeft = Math.round((info.notAfter.getTime() - now.getTime()) / 1000);
    // A renewed certificate not yet proven at the broker (renewal_unproven): the next attempt proves it.
    const candidate = live.candidate && {
      serialNumber: describeCertificate(live.candidate.certificate).serialNumber,
      generation: live.candidate.generation,
    };
    if (options.json) {
      io.stdout(
        JSON.stringify({
          ok: true,
          enrolled: true,
          stateDir: layout.root,
          deviceId: info.subjectCommonName,
          serialNumber: info.serialNumber,
          notBefore: info.notBefore.toISOString(),
          notAfter: info.notAfter.toISOString(),
          secondsLeft,
          files: layout.live,
          token,
          candidate: candidate ?? null,
          health,
          agent: agent ? { running: agent.running, ...agent.status } : null,
        }) + '\n',
      );
      return done();
    }
    io.stdout(
      [
        `Enrolled as ${info.subjectCommonName ?? '(no CN)'}`,
        `  serial      ${info.serialNumber}`,
        `  valid until ${info.notAfter.toISOString()} (${secondsLeft > 0 ? `${(secondsLeft / 86400).toFixed(1)} days left` : 'EXPIRED'})`,
        `  issuer      ${info.issuer}`,
        `  files       ${layout.live.dir}/{key,cert,chain,ca}.pem`,
        `  token       ${TOKEN_PLACES[token.location]}${token.paths.length > 0 ? ` (${token.paths.join(', ')})` : ''}`,
        ...(candidate
          ? [`  renewed     serial ${candidate.serialNumber} (generation ${candidate.generation}), not yet proven at the broker`]
          : []),
        ...agentLines(agent, health),
        '',
      ].join('\n'),
    );
    done();
  });
}

function agentLines(agent: ReadStatus | undefined, health: ReturnType<typeof agentHealth>): string[] {
  if (!agent) return ['  agent       no status file: the service has not run since this version was installed'];
  const s = agent.status;
  if (!agent.running) return [`  agent       not running (last status ${s.updatedAt}: ${s.connection.state})`];
  const verdict = { ok: '', revoked: ': REVOKED, the broker refuses this certificate', unable_to_connect: ': UNABLE TO CONNECT' }[health];
  return [
    `  agent       running (pid ${s.pid}, since ${s.startedAt})`,
    `  connection  ${s.connection.state} since ${s.connection.since}${s.connection.detail ? ` (${s.connection.detail})` : ''}${verdict}`,
    `  last error  ${s.lastError ? `${s.lastError.code} at ${s.lastError.at}: ${s.lastError.message}` : '-'}`,
    `  next check  ${s.nextRenewalCheck ?? '-'}`,
  ];
}

const TOKEN_PLACES = {
  boot_partition: 'still on the boot partition, readable by anyone holding the card',
  state_dir: 'in the state directory only',
  none: 'none left (a certificate past renewal needs a new bootstrap file)',
} as const;
