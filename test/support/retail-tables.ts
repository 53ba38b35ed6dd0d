/**
 * The publisher-and-shops collaboration of the multi-member e2e tests: an `impressions` table (campaign, cost) and
 * key-only tables of shops and banks (region), with messy emails over overlapping ranges of people.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { prng } from '../../scripts/demo-data.js';
import type { Table } from '../../src/manifest/schema.js';

export function impressionsTable(minDistinctKeys: number, overlapDisclosure: string[]): Table {
  return {
    name: 'impressions',
    owner: 'pub',
    columns: [{ name: 'email', type: 'string' }, { name: 'campaign', type: 'string' }, { name: 'cost', type: 'decimal', scale: 2, min: -1000, max: 1000 }],
    joinKey: { column: 'email', normalization: 'email' },
    rules: { aggregations: [{ column: 'cost', functions: ['sum', 'avg'] }], dimensions: ['campaign'], minDistinctKeys, overlapDisclosure: overlapDisclosure.map((member) => ({ member, filters: ['campaign'] })) },
  };
}

export function keyOnlyTable(name: string, owner: string, minDistinctKeys: number, overlapDisclosure: string[]): Table {
  return {
    name,
    owner,
    columns: [{ name: 'email', type: 'string' }, { name: 'region', type: 'string' }],
    joinKey: { column: 'email', normalization: 'email' },
    rules: { aggregations: [], dimensions: ['region'], minDistinctKeys, overlapDisclosure: overlapDisclosure.map((member) => ({ member, filters: ['region'] })) },
  };
}

export interface RetailData {
  readonly seed: number;
  /** Rows of `impressions`, over people 0..people-1. */
  readonly impressions: { readonly rows: number; readonly people: number };
  /** Key-only tables: their name, the range of people [from, to) and the number of rows. */
  readonly keyOnly: readonly { readonly name: string; readonly from: number; readonly to: number; readonly rows: number }[];
}

/** Writes one CSV file per table into `dir`; returns table name -> file. */
export function writeRetailData(dir: string, d: RetailData): Record<string, string> {
  const rand = prng(d.seed);
  const email = (i: number) => (rand() < 0.3 ? ` Person${i}@Example.com ` : `person${i}@example.com`);
  const files: Record<string, string> = {};
  const write = (name: string, header: string, rows: string[]) => {
    files[name] = join(dir, `${name}.csv`);
    writeFileSync(files[name]!, header + '\n' + rows.join('\n') + '\n');
  };
  write('impressions', 'email,campaign,cost', Array.from({ length: d.impressions.rows }, () => {
    const i = Math.floor(rand() * d.impressions.people);
    return `"${email(i)}",${['spring', 'summer', 'autumn'][i % 3]},${(Math.floor(rand() * 20000) / 100 - 50).toFixed(2)}`;
  }));
  for (const t of d.keyOnly) {
    write(t.name, 'email,region', Array.from({ length: t.rows }, () => {
      const i = t.from + Math.floor(rand() * (t.to - t.from));
      return `"${email(i)}",${['north', 'south'][i % 2]}`;
    }));
  }
  return files;
}
