import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sampleDiscreteLaplace } from '../../src/dp/discrete-laplace.js';
import { seededRandom } from '../../src/dp/random-source.js';
import { fromText } from '../../src/dp/rational.js';

/*
 * Pinned outputs, not external truth: discrete-laplace.json was generated once by this implementation (a fresh
 * seededRandom('cleanroom-dlap-v1') per scale, 16 samples each; one seededRandom('x') for the below() draws, in file
 * order). They exist so that any change to CKS Algorithm 1 or 2 as written, to how they consume randomness, or to the
 * seeded stream shows up here; if such a change is intended, regenerate the file and say so in the change. What is
 * checked against something outside this code is the stream itself (SHA-256, below) and, in
 * test/unit/discrete-laplace.test.ts, the distribution.
 */
interface Vectors {
  laplace: { seed: string; count: number; vectors: Array<{ scale: string; samples: string[] }> };
  below: { seed: string; draws: Array<{ bound: string; value: string }> };
}
const file = JSON.parse(readFileSync(new URL('./discrete-laplace.json', import.meta.url), 'utf8')) as Vectors;

describe('discrete Laplace vectors', () => {
  it('cover the scales 1/2, 1, 10, 12345/7 and 10^9 with 16 samples each', () => {
    expect(file.laplace.seed).toBe('cleanroom-dlap-v1');
    expect(file.laplace.vectors.map((v) => v.scale)).toEqual(['1/2', '1', '10', '12345/7', '1000000000']);
    for (const v of file.laplace.vectors) expect(v.samples).toHaveLength(file.laplace.count);
  });

  it.each(file.laplace.vectors)('scale $scale', ({ scale, samples }) => {
    const rnd = seededRandom(file.laplace.seed);
    const got = samples.map(() => sampleDiscreteLaplace(fromText(scale), rnd).toString());
    expect(got).toEqual(samples);
  });
});

describe('seededRandom vectors', () => {
  it("seededRandom('x').below() gives the pinned draws", () => {
    const rnd = seededRandom(file.below.seed);
    const got = file.below.draws.map((d) => rnd.below(BigInt(d.bound)).toString());
    expect(got).toEqual(file.below.draws.map((d) => d.value));
  });

  it('is the bytes of SHA-256(seed || 8-byte big-endian counter), one byte per below(256n)', () => {
    const rnd = seededRandom('x');
    const stream = Buffer.concat(
      [0n, 1n].map((i) => {
        const counter = Buffer.alloc(8);
        counter.writeBigUInt64BE(i);
        return createHash('sha256').update('x').update(counter).digest();
      }),
    );
    expect(stream.subarray(0, 4).toString('hex')).toBe('35493724');
    const got = Array.from({ length: 64 }, () => Number(rnd.below(256n)));
    expect(got).toEqual([...stream]);
  });

  it('rejects a byte at or above the largest multiple of the bound, and never reduces it', () => {
    // The stream for 'x' starts 35 49 37 24 40 f3 50: with a bound of 200 (limit 200), 0xf3 = 243 is rejected and the
    // sixth draw is the next byte, 0x50 = 80. Reducing instead would have given 43, a value then twice as likely.
    const rnd = seededRandom('x');
    expect(Array.from({ length: 6 }, () => rnd.below(200n))).toEqual([0x35n, 0x49n, 0x37n, 0x24n, 0x40n, 0x50n]);
    // 257 needs two bytes, big-endian: 0x3549 = 13641 is below 65536 - 65536 % 257, so it is kept.
    expect(seededRandom('x').below(257n)).toBe(0x3549n % 257n);
  });
});
