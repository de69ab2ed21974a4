/** Options every agent command shares, with their environment variables. */
import { Option } from 'commander';
import { DEFAULT_STATE_DIR } from '../config/state-layout.js';

export function stateDirOption(): Option {
  return new Option('--state-dir <dir>', 'agent state directory (keys, certificates)').env('FLEETCERT_STATE_DIR').default(DEFAULT_STATE_DIR);
}

export function jsonOption(): Option {
  return new Option('--json', 'print the result as JSON on stdout (for scripts)');
}
