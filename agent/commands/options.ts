/**
 * Options the agent commands share, with their environment variables. They carry no defaults
 * of their own: the configuration schema does, so /etc/fleetcert/agent.json applies unless a
 * flag or variable says otherwise.
 */
import { Command, Option } from 'commander';
import { FleetcertError } from '../../shared/errors.js';
import { createLogger, type Logger } from '../../shared/log/logger.js';
import { loadAgentConfig, type AgentConfig, type AgentConfigInput } from '../config/agent-config.js';
import { stateLayout, type StateLayout } from '../config/state-layout.js';

export interface CommonOptions {
  config?: string;
  stateDir?: string;
  bootstrap?: string[];
  enrollUrl?: string;
  broker?: string;
  brokerServername?: string;
  idTemplate?: string;
  identityRoot?: string;
  hooksDir?: string;
  logLevel?: string;
  renewCheck?: string;
  renewRetrySeconds?: string;
  json?: boolean;
}

export function addRenewalOptions(command: Command): Command {
  return command
    .addOption(new Option('--renew-check <cron>', 're-check besides the planned renewal moment (default every 15 min: "*/15 * * * *")'))
    .addOption(new Option('--renew-retry-seconds <n>', 'first pause after a failed renewal (grows tenfold to 6 h; default 60)'));
}

export function addCommonOptions(command: Command): Command {
  return command
    .addOption(new Option('--config <file>', 'agent configuration file (default /etc/fleetcert/agent.json)').env('FLEETCERT_AGENT_CONFIG'))
    .addOption(new Option('--state-dir <dir>', 'agent state directory (default /var/lib/fleetcert-agent)').env('FLEETCERT_STATE_DIR'))
    .addOption(
      new Option('--bootstrap <file...>', 'bootstrap file(s) to look for (default: the boot partition, then /etc/fleetcert)').env(
        'FLEETCERT_BOOTSTRAP',
      ),
    )
    .addOption(new Option('--enroll-url <url>', 'enrollment endpoint, skips discovery').env('FLEETCERT_ENROLL_URL'))
    .addOption(new Option('--broker <host:port>', "the broker's mTLS listener, skips discovery").env('FLEETCERT_BROKER'))
    .addOption(new Option('--broker-servername <name>', "name in the broker's certificate when --broker is an address"))
    .addOption(new Option('--id-template <template>', 'device id template: {model} {serial} {mac} {hostname}'))
    .addOption(new Option('--identity-root <dir>', 'read /proc and /sys under this root (tests, chroots)').env('FLEETCERT_IDENTITY_ROOT'))
    .addOption(new Option('--hooks-dir <dir>', 'executables run after each install'))
    .addOption(new Option('--log-level <level>', 'debug, info, warn, error, silent').env('FLEETCERT_LOG_LEVEL'))
    .addOption(new Option('--json', 'print the result as JSON on stdout (for scripts)'));
}

export interface AgentContext {
  readonly config: AgentConfig;
  readonly layout: StateLayout;
  readonly log: Logger;
}

export async function agentContext(options: CommonOptions): Promise<AgentContext> {
  const overrides: AgentConfigInput = {
    stateDir: options.stateDir,
    bootstrapFiles: options.bootstrap,
    enrollUrl: options.enrollUrl,
    broker: options.broker,
    brokerServername: options.brokerServername,
    idTemplate: options.idTemplate,
    identityRoot: options.identityRoot,
    hooksDir: options.hooksDir,
    logLevel: options.logLevel as AgentConfigInput['logLevel'],
    renewCheck: options.renewCheck,
    renewRetrySeconds: options.renewRetrySeconds === undefined ? undefined : Number(options.renewRetrySeconds),
  };
  const config = await loadAgentConfig(options.config, overrides);
  return {
    config,
    layout: stateLayout(config.stateDir, config.outboxDir),
    log: createLogger({ namespace: 'fleetcert-agent', level: config.logLevel }),
  };
}

/** A number of seconds given on the command line (`--timeout 30`): 0 or more, else a usage error, never NaN downstream. */
export function secondsOption(name: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new FleetcertError('usage', `${name} "${value}" must be a number of seconds`);
  return n;
}
