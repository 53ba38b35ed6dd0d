/**
 * lower, upper, trim and LIKE as SPEC §5 defines them, written for the plaintext oracle from JavaScript's own string
 * functions and the definition, apart from the node's DuckDB: a difference shows up as a wrong answer (and
 * test/unit/plaintext-oracle.test.ts compares lower, upper and trim with DuckDB's on every code point).
 */

/**
 * Code points whose case pair Unicode 16 and 17 added: DuckDB 1.5's case tables (utf8proc, Unicode 15) leave them as
 * they are, whatever Unicode the JavaScript engine knows.
 */
const NEWER_CASE_PAIRS = /[\u019B\u0264\u1C89\u1C8A\uA7CB-\uA7CF\uA7D2-\uA7D5\uA7DA-\uA7DC\u{10D50}-\u{10D65}\u{10D70}-\u{10D85}\u{16EA0}-\u{16EB8}\u{16EBB}-\u{16ED3}]/u;

/** Where JavaScript maps one code point to several (SpecialCasing), the one-code-point mapping DuckDB uses instead. */
const SIMPLE_LOWER: ReadonlyMap<string, string> = new Map([['\u0130', 'i']]);
const SIMPLE_UPPER: ReadonlyMap<string, string> = new Map([
  ['ß', 'ẞ'],
  ['\u1FB3', '\u1FBC'],
  ['\u1FC3', '\u1FCC'],
  ['\u1FF3', '\u1FFC'],
  // Greek with ypogegrammeni: ᾀ-ᾇ, ᾐ-ᾗ, ᾠ-ᾧ to their capitals eight code points on.
  ...[0x1f80, 0x1f90, 0x1fa0].flatMap((base) => Array.from({ length: 8 }, (_, i): [string, string] => [String.fromCodePoint(base + i), String.fromCodePoint(base + i + 8)])),
]);

function mapEach(s: string, full: (ch: string) => string, simple: ReadonlyMap<string, string>): string {
  return Array.from(s, (ch) => {
    if (NEWER_CASE_PAIRS.test(ch)) return ch;
    const mapped = full(ch);
    // One code point into one, with no context: never the Greek final sigma, never ß into SS.
    return Array.from(mapped).length === 1 ? mapped : (simple.get(ch) ?? ch);
  }).join('');
}

/** lower(): each code point by Unicode's simple lowercase mapping, alone (İ is i); also the email key's lowercase (SPEC §3). */
export function lowerText(s: string): string {
  return mapEach(s, (ch) => ch.toLowerCase(), SIMPLE_LOWER);
}

/** upper(): each code point by Unicode's simple uppercase mapping, alone (ß is ẞ, ﬁ stays ﬁ). */
export function upperText(s: string): string {
  return mapEach(s, (ch) => ch.toUpperCase(), SIMPLE_UPPER);
}

/** trim(): the space separators (Unicode category Zs) at both ends go; tabs, line ends and the rest stay. */
const SPACE_SEPARATORS = '\u0020\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000';
const SPACES_AT_ENDS = new RegExp(`^[${SPACE_SEPARATORS}]+|[${SPACE_SEPARATORS}]+$`, 'gu');

export function trimText(s: string): string {
  return s.replace(SPACES_AT_ENDS, '');
}

/**
 * `text LIKE pattern`: the whole text matches, code point by code point, where `%` in the pattern matches any run of
 * code points (none included), `_` exactly one, and anything else itself, case and all. No escape character.
 */
export function likeMatch(text: string, pattern: string): boolean {
  const p = Array.from(pattern);
  // reach[j]: the first j code points of the pattern match the text read so far.
  let reach = p.map(() => false);
  reach.unshift(true);
  for (let j = 1; j <= p.length && p[j - 1] === '%'; j++) reach[j] = true;
  for (const ch of text) {
    const next = [false];
    for (let j = 1; j <= p.length; j++) {
      const pc = p[j - 1];
      next[j] = pc === '%' ? next[j - 1]! || reach[j]! : reach[j - 1]! && (pc === '_' || pc === ch);
    }
    reach = next;
  }
  return reach[p.length]!;
}
