import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiFailure, getJson } from './api.js';

export interface PageProps {
  /** This node's member id. */
  readonly self: string;
}

/** A GET of the control interface with its loading and error states, and a way to ask again. */
export function useJson<T>(path: string): { data?: T; error?: string; reload: () => void } {
  const [state, setState] = useState<{ data?: T; error?: string }>({});
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    getJson<T>(path).then(
      (data) => live && setState({ data }),
      (e: unknown) => live && setState({ error: e instanceof ApiFailure ? e.message : String(e) }),
    );
    return () => {
      live = false;
    };
  }, [path, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

export function Loading({ error, children }: { error?: string | undefined; children?: ComponentChildren }) {
  if (error) return <p role="alert" class="refused">Could not load: {error}</p>;
  return <p aria-busy="true">{children ?? 'Loading…'}</p>;
}
