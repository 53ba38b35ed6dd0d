import { ProtocolViolation } from '../errors.js';
import { MAX_FRAME_CONTAINERS, MAX_FRAME_DEPTH } from '../limits.js';

/**
 * Checks the shape of a msgpack frame before it is decoded (SPEC §2): one map with string keys, no extension or
 * reserved types, containers at most MAX_FRAME_DEPTH deep and MAX_FRAME_CONTAINERS in all, and every declared
 * length within the bytes that follow. msgpackr allocates what a header declares before reading a single element
 * (a 5-byte array header makes it allocate 240 MB, a 4 KiB stack of them gigabytes), and a frame of empty
 * containers costs some 60 bytes of memory per byte; this walk allocates nothing, so that whatever decoding then
 * builds is bounded by the frame's own size. It only reads format bytes and lengths (the msgpack specification's
 * table); msgpackr still does all the decoding.
 */
export function checkFrameShape(b: Uint8Array, what: string): void {
  const refuse = (why: string) => new ProtocolViolation('malformed-frame', `${what} frame is not valid msgpack of the protocol's shape: ${why}`);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let at = 0;
  let containers = 0;
  /** Open containers: items each still holds (a map counts keys and values), and whether it is a map. */
  const open: { left: number; map: boolean }[] = [];

  const take = (n: number): number => {
    if (n > b.length - at) throw refuse(`a length of ${n} runs past the end of the frame`);
    const start = at;
    at += n;
    return start;
  };
  const uint = (bytes: 1 | 2 | 4): number => {
    const i = take(bytes);
    return bytes === 1 ? view.getUint8(i) : bytes === 2 ? view.getUint16(i) : view.getUint32(i);
  };
  const container = (map: boolean, entries: number): void => {
    if (++containers > MAX_FRAME_CONTAINERS) throw refuse(`more than ${MAX_FRAME_CONTAINERS} maps and arrays`);
    if (open.length >= MAX_FRAME_DEPTH) throw refuse(`maps and arrays nested more than ${MAX_FRAME_DEPTH} deep`);
    const items = map ? entries * 2 : entries;
    // Every item takes at least one byte: a count the rest of the frame cannot hold is a lie.
    if (items > b.length - at) throw refuse(`${map ? 'a map' : 'an array'} declares ${entries} entries in ${b.length - at} bytes`);
    open.push({ left: items, map });
  };

  const item = (key: boolean): void => {
    const t = uint(1);
    const isString = (t >= 0xa0 && t <= 0xbf) || (t >= 0xd9 && t <= 0xdb);
    if (key && !isString) throw refuse(`a map key of type 0x${t.toString(16)} (keys are strings)`);
    if (t <= 0x7f || t >= 0xe0) return;
    if (t <= 0x8f) return container(true, t & 0x0f);
    if (t <= 0x9f) return container(false, t & 0x0f);
    if (t <= 0xbf) return void take(t & 0x1f);
    switch (t) {
      case 0xc0:
      case 0xc2:
      case 0xc3:
        return;
      case 0xc4:
      case 0xd9:
        return void take(uint(1));
      case 0xc5:
      case 0xda:
        return void take(uint(2));
      case 0xc6:
      case 0xdb:
        return void take(uint(4));
      case 0xcc:
      case 0xd0:
        return void take(1);
      case 0xcd:
      case 0xd1:
        return void take(2);
      case 0xca:
      case 0xce:
      case 0xd2:
        return void take(4);
      case 0xcb:
      case 0xcf:
      case 0xd3:
        return void take(8);
      case 0xdc:
        return container(false, uint(2));
      case 0xdd:
        return container(false, uint(4));
      case 0xde:
        return container(true, uint(2));
      case 0xdf:
        return container(true, uint(4));
      default:
        throw refuse(`type 0x${t.toString(16)} (extensions and reserved types are not part of the protocol)`);
    }
  };

  const first = b[0];
  if (first === undefined || !((first >= 0x80 && first <= 0x8f) || first === 0xde || first === 0xdf)) throw refuse('it is not a map');
  item(false);
  while (open.length > 0) {
    const top = open[open.length - 1]!;
    if (top.left === 0) {
      open.pop();
      continue;
    }
    top.left -= 1;
    // A map's items alternate key, value: with an even count left after taking one, this one is a value.
    item(top.map && top.left % 2 === 1);
  }
  if (at !== b.length) throw refuse(`${b.length - at} bytes after the map`);
}
