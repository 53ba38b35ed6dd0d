/** Runs `task` over every item, at most `width` at a time; the results in item order. */
export async function inBatches<T, R>(items: readonly T[], width: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await task(items[i]!, i);
      }
    }),
  );
  return out;
}

/**
 * As inBatches, but no lane starts an item once `budgetMs` have passed and at least `minItems` have started: the
 * results of the items that ran, a prefix of `items`, in order. A fuzz or load test sized so stays within its time on
 * a machine three times slower, running fewer cases rather than running out of time.
 */
export async function inBatchesWithin<T, R>(items: readonly T[], width: number, budget: { readonly ms: number; readonly minItems: number }, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  const started = Date.now();
  let next = 0;
  const more = () => next < items.length && (next < budget.minItems || Date.now() - started < budget.ms);
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (more()) {
        const i = next++;
        out[i] = await task(items[i]!, i);
      }
    }),
  );
  return out;
}
