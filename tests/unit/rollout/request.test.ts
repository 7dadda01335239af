import { describe, expect, it } from 'vitest';
import {
  ANNOTATION_ROLLOUT_REQUEST,
  formatRequest,
  parseRequest,
  requestId,
} from '../../../operator/rollout/request.js';

describe('rollout requests', () => {
  it('round-trips a request', () => {
    const request = {
      id: requestId(new Date('2026-12-07T10:00:00Z'), 'ab12'),
      action: 'promote' as const,
      by: 'alice',
    };
    expect(request.id).toBe('2026-12-07T10:00:00.000Z-ab12');
    expect(parseRequest(formatRequest(request))).toEqual({ ok: true, request });
  });

  it.each([
    ['not json', 'is not JSON: "not json"'],
    ['[]', 'must be a JSON object with id and action'],
    ['{"action":"promote"}', 'needs an id'],
    [
      '{"id":"1","action":"skip"}',
      'action must be one of promote, promote-full, abort, retry, pause, resume, got "skip"',
    ],
    ['{"id":"1","action":"abort","by":7}', 'by must be a string'],
  ])('refuses %s naming the annotation', (value, error) => {
    const parsed = parseRequest(value);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.error).toContain(ANNOTATION_ROLLOUT_REQUEST);
    expect(parsed.error).toContain(error);
    // The same text gets the same id, so it is refused once.
    expect(parseRequest(value)).toEqual(parsed);
  });
});
