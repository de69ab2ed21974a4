/**
 * Which generation the agent may use, from what inspect-generations.ts found (pure).
 *
 * Missing is not corrupt: only an empty store (no `live` link, no generation) means "not
 * enrolled", the one state in which the agent may spend a token use. When `live` is absent,
 * dangling or names a generation that is not complete, the newest complete generation is
 * used instead (normally the previous one); when there is none the store is corrupt and the
 * agent stops: it never enrolls again by itself while a key of this device exists.
 * Crash recovery at start (rolling forward to a newer complete generation) belongs here too.
 */
import type { CompleteGeneration, CredentialInventory } from './inspect-generations.js';

export type GenerationChoice =
  | { readonly kind: 'not_enrolled' }
  | { readonly kind: 'live'; readonly generation: CompleteGeneration }
  /** `live` cannot be used (`problem`); `generation` can. `unusable` names the generation `live` pointed at, if any. */
  | { readonly kind: 'fallback'; readonly generation: CompleteGeneration; readonly problem: string; readonly unusable: string | undefined }
  | { readonly kind: 'corrupt'; readonly problem: string };

export function chooseGeneration(inventory: CredentialInventory): GenerationChoice {
  const { live, generations } = inventory;
  if (live.kind === 'absent' && generations.length === 0) return { kind: 'not_enrolled' };
  const target = live.kind === 'link' ? generations.find((g) => g.name === live.target) : undefined;
  if (target?.complete) return { kind: 'live', generation: target };

  const problem =
    live.kind === 'absent'
      ? 'there is no live link, but generations exist'
      : live.kind === 'unreadable'
        ? live.problem
        : target === undefined
          ? `live points to generation ${live.target}, which does not exist`
          : target.problem;
  const unusable = live.kind === 'link' ? live.target : undefined;
  const usable = generations.filter((g): g is CompleteGeneration => g.complete && g.name !== unusable).at(-1);
  if (usable) return { kind: 'fallback', generation: usable, problem, unusable: target ? target.name : undefined };
  const others = generations.filter((g) => g.name !== unusable);
  const rest =
    others.length === 0 ? 'no other generation exists' : others.map((g) => (g.complete ? g.name : `${g.name}: ${g.problem}`)).join('; ');
  return { kind: 'corrupt', problem: `${problem}; no complete generation to fall back to (${rest})` };
}
