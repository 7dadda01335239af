// `make render`: prints what the operator would create; errors name the file and the field.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { RenderFileError, renderFile } from '../../../charts/render.js';

const minimal = readFileSync('manifests/samples/trench-minimal.yaml', 'utf8');

describe('renderFile', () => {
  it('renders every object of the sample as YAML 1.1 that kubectl reads back', () => {
    const text = renderFile(minimal, 'trench-minimal.yaml');
    const docs = parseAllDocuments(text, { version: '1.1' }).map((d) => d.toJS());
    expect(docs).toHaveLength(18);
    const redis = docs.find((d) => d.kind === 'StatefulSet' && d.metadata.name === 'demo-redis');
    // `yes` would be a boolean to a YAML 1.1 reader had it not been quoted.
    expect(redis.spec.template.spec.containers[0].args).toContain('yes');
  });

  const cases: [string, string, string][] = [
    ['bad YAML', 'kind: Trench\n  spec: [', 'line'],
    [
      'another kind',
      minimal.replace('kind: Trench', 'kind: Deployment'),
      'kind must be Trench (got "Deployment")',
    ],
    [
      'another version',
      minimal.replace('v1alpha1', 'v1'),
      'apiVersion must be playtrenches.xyz/v1alpha1',
    ],
    ['a bad field', minimal.replace('queues: [default]', 'queues: []'), 'spec.worker.queues'],
    ['a bad name', minimal.replace('name: demo', 'name: Demo'), 'metadata.name'],
    ['no Trench', '# nothing\n', 'holds no Trench'],
  ];
  it.each(cases)('names the file for %s', (_, text, detail) => {
    expect(() => renderFile(text, 'some/trench.yaml')).toThrow(RenderFileError);
    try {
      renderFile(text, 'some/trench.yaml');
    } catch (error) {
      expect((error as Error).message).toMatch(/^some\/trench\.yaml: /);
      expect((error as Error).message).toContain(detail);
    }
  });

  it('runs as a CLI and exits 1 with the error on stderr', () => {
    const out = execFileSync(
      'npx',
      ['tsx', 'charts/render.ts', 'manifests/samples/trench-full.yaml'],
      {
        encoding: 'utf8',
      },
    );
    expect(out).toContain('name: shop-api');
    try {
      execFileSync('npx', ['tsx', 'charts/render.ts', 'does-not-exist.yaml'], {
        encoding: 'utf8',
        stdio: 'pipe',
      });
      expect.unreachable();
    } catch (error) {
      expect((error as { status: number }).status).toBe(1);
      expect((error as { stderr: string }).stderr).toContain('Cannot read does-not-exist.yaml');
    }
  }, 30_000);
});
