import { CleanroomError, errorMessage } from '../errors.js';
import type { PsiGroup } from './group.js';
import { nobleGroup } from './group-noble.js';
import { loadSodium, sodiumGroup } from './group-sodium.js';

export type BackendPreference = 'noble' | 'sodium' | 'auto';

let sodiumLoadError: string | null | undefined;

/** null when sodium-native loaded, else why it did not; tried once per process. */
function sodiumProblem(): string | null {
  if (sodiumLoadError === undefined) {
    try {
      loadSodium();
      sodiumLoadError = null;
    } catch (err) {
      sodiumLoadError = errorMessage(err);
    }
  }
  return sodiumLoadError;
}

/**
 * The group backend to use. 'auto' (the default) takes libsodium, about 25 times faster at X25519,
 * and falls back to @noble/curves on a machine without a usable sodium-native binary; both give
 * byte-identical results, so nodes with different backends interoperate.
 */
export function selectBackend(preference: BackendPreference = 'auto'): PsiGroup {
  switch (preference) {
    case 'noble':
      return nobleGroup;
    case 'sodium': {
      const problem = sodiumProblem();
      if (problem !== null) {
        throw new CleanroomError('CONFIG_INVALID', `group backend 'sodium' is not available on this machine (${problem}); use 'noble' or 'auto'`);
      }
      return sodiumGroup;
    }
    case 'auto':
      return sodiumProblem() === null ? sodiumGroup : nobleGroup;
    default:
      throw new CleanroomError('CONFIG_INVALID', `unknown group backend ${JSON.stringify(preference)}; allowed: 'noble', 'sodium', 'auto'`);
  }
}

/** Every backend that works on this machine, noble first (tests run each of them against the vectors). */
export function groupBackends(): PsiGroup[] {
  return sodiumProblem() === null ? [nobleGroup, sodiumGroup] : [nobleGroup];
}
