/**
 * Types for the one systeminformation module the agent loads (system-metadata.ts): the package
 * declares only its index, whose import would load every probe it has.
 */
declare module 'systeminformation/lib/osinfo.js' {
  import type { Systeminformation } from 'systeminformation';

  export function osInfo(): Promise<Systeminformation.OsData>;
}
