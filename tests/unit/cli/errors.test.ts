import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { CliError, toCliError } from '../../../operator/cli/client.js';

const conn = { server: 'https://10.0.0.1:6443' };
const notFound = 'Trench "shop" not found in namespace "prod"';
const status = (code: number, body: unknown) => new ApiException(code, 'HTTP', body, {});

function classify(error: unknown): { code: number; message: string } {
  const e = toCliError(error, conn, 'Trench "shop" in namespace "prod"', { notFound });
  return { code: e.exitCode, message: e.message };
}

describe('toCliError: exit codes and messages', () => {
  it('names the Trench and its namespace when the object is missing (3)', () => {
    const body = JSON.stringify({
      kind: 'Status',
      reason: 'NotFound',
      message: 'trenches.playtrenches.xyz "shop" not found',
      details: { name: 'shop', group: 'playtrenches.xyz', kind: 'trenches' },
    });
    expect(classify(status(404, body))).toEqual({ code: 3, message: notFound });
  });

  it('tells a missing CRD apart from a missing object (3)', () => {
    expect(classify(status(404, '404 page not found'))).toEqual({
      code: 3,
      message:
        'the API server https://10.0.0.1:6443 does not serve playtrenches.xyz/v1alpha1 (are the Trench CRDs installed?): 404 page not found',
    });
  });

  it('names the server for refused credentials and forbidden reads (4)', () => {
    expect(classify(status(401, undefined))).toEqual({
      code: 4,
      message: 'the API server https://10.0.0.1:6443 refused the credentials (401 Unauthorized)',
    });
    const forbidden = classify(
      status(403, {
        message: 'trenches.playtrenches.xyz "shop" is forbidden: User "bob" cannot get',
      }),
    );
    expect(forbidden.code).toBe(4);
    expect(forbidden.message).toBe(
      'the API server https://10.0.0.1:6443 forbids reading Trench "shop" in namespace "prod" (403 Forbidden): trenches.playtrenches.xyz "shop" is forbidden: User "bob" cannot get',
    );
  });

  it('reports a server error with its HTTP code (4)', () => {
    expect(classify(status(503, { message: 'etcd down' }))).toEqual({
      code: 4,
      message:
        'the API server https://10.0.0.1:6443 failed reading Trench "shop" in namespace "prod" (HTTP 503): etcd down',
    });
  });

  it('names the server and the system error when it cannot be reached (4)', () => {
    const refused = Object.assign(new Error('request to https://10.0.0.1:6443/apis failed'), {
      code: 'ECONNREFUSED',
    });
    expect(classify(refused)).toEqual({
      code: 4,
      message:
        'cannot reach the API server https://10.0.0.1:6443: request to https://10.0.0.1:6443/apis failed (ECONNREFUSED)',
    });
  });

  it('passes a CliError through unchanged', () => {
    const e = new CliError('already decided', 2);
    expect(toCliError(e, conn, 'x', {})).toBe(e);
  });
});
