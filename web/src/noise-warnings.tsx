import type { NoiseWarningView } from './api.js';

/**
 * DP outputs whose noise outweighs their values (src/query/noise-warnings.ts writes each message): shown with the
 * preview before a query runs and with its result after, so that a meaningless answer is never read as one.
 */
export function NoiseWarnings({ warnings }: { warnings: readonly NoiseWarningView[] | undefined }) {
  if (!warnings || warnings.length === 0) return null;
  return (
    <div class="noise-warnings" role="note" data-warnings={warnings.length}>
      <p>
        <strong>⚠ Too noisy to mean much:</strong>
      </p>
      <ul>
        {warnings.map((w) => (
          <li key={w.output} data-warning={w.code}>
            {w.message}
          </li>
        ))}
      </ul>
    </div>
  );
}
