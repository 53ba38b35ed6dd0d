import { describe, expect, it } from 'vitest';
import { formatTable } from '../../src/cli/table.js';

describe('the CLI result table', () => {
  it('aligns numbers right and text left, shows NULL', () => {
    expect(formatTable({ columns: ['category', 'count'], rows: [['books', 12], [null, 3]] })).toBe('category  count\n--------  -----\nbooks        12\nNULL          3');
  });

  it("keeps another member's labels on one line, with terminal escapes escaped: no forged row, no rewritten screen", () => {
    const text = formatTable({ columns: ['g', 'count'], rows: [['x\nz 9999 99999', 5], ['\u001b[2K\u001b[1Ay', 6]] });
    const lines = text.split('\n');
    expect(lines).toHaveLength(4);
    // Nothing but the table's own line breaks: no control character at all.
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(lines[2]).toContain('x\\u{a}z 9999 99999');
    expect(lines[3]).toContain('\\u{1b}[2K\\u{1b}[1Ay');
  });
});
