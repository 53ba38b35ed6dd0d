import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import type { Row } from './rows.js';
import type { TableData } from './answer.js';

/**
 * Table files as the oracle reads them: CSV in the default dialect (a header, commas, double quotes), every field
 * text, and an empty field, quoted or not, NULL, as the node's reader takes it.
 */
export async function readCsvRows(path: string): Promise<Row[]> {
  const records = parse(await readFile(path), { columns: true }) as Record<string, string>[];
  return records.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === '' ? null : v])));
}

/** Every table's file read, or per holder for a federated table. */
export async function readCsvTables(files: Readonly<Record<string, string | Readonly<Record<string, string>>>>): Promise<TableData> {
  const read = async (f: string | Readonly<Record<string, string>>) =>
    typeof f === 'string' ? readCsvRows(f) : Object.fromEntries(await Promise.all(Object.entries(f).map(async ([holder, path]) => [holder, await readCsvRows(path)] as const)));
  return Object.fromEntries(await Promise.all(Object.entries(files).map(async ([table, f]) => [table, await read(f)] as const)));
}
