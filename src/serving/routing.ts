/**
 * A canary's routing: each request's key (its id, or an entity field the rollout names) hashed with the
 * rollout's id to a point in [0, 1); the candidate answers the points below its share. The same key always
 * lands on the same point in a rollout, so an entity keeps its version while the share holds, and a version
 * it got stays its version as the share grows (the candidate's points at 10 % are among those at 50 %).
 * Salting with the rollout id gives each rollout its own draw, so no entity is always the first to see new
 * versions.
 */
import type { RolloutRouting } from '../storage/types';

/**
 * The point in [0, 1) of a key in a rollout: 32-bit FNV-1a over the rollout id, a zero, and the key (UTF-16 code
 * units), then Murmur3's finaliser so that keys differing in their last character (`req-1`, `req-2`) spread over
 * the whole range.
 */
export function routePoint(rolloutId: string, key: string): number {
  return pointFrom(routeSeed(rolloutId), key);
}

/** FNV-1a over the rollout id and a zero: computed once per rollout, the start of every key's hash. */
export function routeSeed(rolloutId: string): number {
  return fnv(fnv(0x811c9dc5, rolloutId), '\u0000');
}

/** The point of a key from its rollout's seed (see `routePoint`). */
export function pointFrom(seed: number, key: string): number {
  let h = fnv(seed, key);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 0x1_0000_0000;
}

function fnv(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h;
}

/** Whether a key goes to the candidate at this share, given its rollout's seed. */
export function routesToCandidate(seed: number, key: string, candidateShare: number): boolean {
  if (candidateShare <= 0) return false;
  if (candidateShare >= 1) return true;
  return pointFrom(seed, key) < candidateShare;
}

/**
 * A request's routing key: the request id, or with field routing the named field's value, looked up in the
 * first row (a v1 instance), a v2 input of that name (its first element), the request's `parameters`, or the
 * body's top level, in that order. A request without the field is routed by its id.
 */
export function routingKey(
  routing: RolloutRouting,
  id: string,
  body: Record<string, unknown>,
  rows?: readonly Record<string, unknown>[],
): string {
  if (routing.key !== 'field') return id;
  const field = routing.field;
  const value = fieldValue(field, body, rows);
  if (value === undefined || value === null) return id;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function fieldValue(field: string, body: Record<string, unknown>, rows?: readonly Record<string, unknown>[]): unknown {
  const row = rows?.[0];
  if (row && typeof row === 'object' && Object.hasOwn(row, field)) return row[field];
  if (Array.isArray(body.inputs)) {
    const input = (body.inputs as { name?: unknown; data?: unknown }[]).find((i) => i && typeof i === 'object' && i.name === field);
    if (input && Array.isArray(input.data) && input.data.length > 0) return input.data[0];
  }
  const parameters = body.parameters;
  if (parameters && typeof parameters === 'object' && Object.hasOwn(parameters, field))
    return (parameters as Record<string, unknown>)[field];
  return Object.hasOwn(body, field) && field !== 'instances' && field !== 'inputs' && field !== 'id' ? body[field] : undefined;
}
