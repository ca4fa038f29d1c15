/** A snapshot's hash-split key of a text, computed here the way docs/data.md defines it: the first 4 bytes of its MD5, big-endian. */
import { createHash } from 'node:crypto';

export function md5Key(text: string): number {
  return parseInt(createHash('md5').update(text, 'utf8').digest('hex').slice(0, 8), 16);
}
