import { divRound, formatScaled } from '../../src/query/result.js';
import { describe, expect, it } from 'vitest';
import { assertLabelsFit } from '../../src/session/release.js';

describe('result assembly helpers', () => {
  it('formats integers in units of 10^-scale as exact decimal text', () => {
    expect(formatScaled(-5n, 2)).toBe('-0.05');
    expect(formatScaled(123456n, 2)).toBe('1234.56');
    expect(formatScaled(7n, 0)).toBe('7');
  });

  it('rounds half away from zero', () => {
    expect(divRound(5n, 2n)).toBe(3n);
    expect(divRound(-5n, 2n)).toBe(-3n);
    expect(divRound(4n, 3n)).toBe(1n);
  });

  it('refuses labels that could not travel in one frame, before anything is shared', () => {
    expect(() => assertLabelsFit(Array.from({ length: 10_000 }, (_, i) => [`g${i}`]))).not.toThrow();
    expect(() => assertLabelsFit(Array.from({ length: 5_000 }, () => ['x'.repeat(1000)]))).toThrow(expect.objectContaining({ code: 'LIMIT_EXCEEDED' }));
  });
});
