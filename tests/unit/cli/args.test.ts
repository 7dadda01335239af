import { describe, expect, it } from 'vitest';
import { type Options, parseArgs, USAGE } from '../../../operator/cli/args.js';

function ok(argv: string[]): Options {
  const r = parseArgs(argv);
  if (!r.ok) throw new Error(`expected ${argv.join(' ')} to parse, got: ${r.error}`);
  return r.options;
}

function error(argv: string[]): string {
  const r = parseArgs(argv);
  if (r.ok)
    throw new Error(`expected ${argv.join(' ')} to be refused, got ${JSON.stringify(r.options)}`);
  return r.error;
}

describe('parseArgs', () => {
  it('reads status NAME with text output and no namespace by default', () => {
    expect(ok(['status', 'shop'])).toEqual({
      verb: 'status',
      name: 'shop',
      allNamespaces: false,
      output: 'text',
    });
  });

  it.each([
    [['-n', 'prod'], 'prod'],
    [['--namespace', 'prod'], 'prod'],
    [['--namespace=prod'], 'prod'],
    [['-nprod'], 'prod'],
    [['-n=prod'], 'prod'],
  ])('reads the namespace from %j', (flag, namespace) => {
    expect(ok(['status', 'shop', ...flag]).namespace).toBe(namespace);
    expect(ok([...flag, 'status', 'shop']).namespace).toBe(namespace);
  });

  it.each([
    [['--context', 'kind-dev'], { context: 'kind-dev' }],
    [['--context=kind-dev'], { context: 'kind-dev' }],
    [['--kubeconfig', '/tmp/kc'], { kubeconfig: '/tmp/kc' }],
    [['--kubeconfig=./kc'], { kubeconfig: './kc' }],
    [['-o', 'json'], { output: 'json' }],
    [['-ojson'], { output: 'json' }],
    [['--output', 'yaml'], { output: 'yaml' }],
    [['--output=text'], { output: 'text' }],
    [['-A'], { allNamespaces: true }],
    [['--all-namespaces'], { allNamespaces: true }],
  ])('reads %j', (flag, expected) => {
    expect(ok(['list', ...flag])).toMatchObject({ verb: 'list', ...expected });
  });

  it('takes the last value of a repeated flag, as kubectl does', () => {
    expect(ok(['list', '-n', 'a', '-n', 'b']).namespace).toBe('b');
  });

  it('reads every flag at once', () => {
    expect(
      ok(['--kubeconfig', '/k', 'status', '--context', 'c', 'shop', '-n', 'ns', '-o', 'yaml']),
    ).toEqual({
      verb: 'status',
      name: 'shop',
      namespace: 'ns',
      context: 'c',
      kubeconfig: '/k',
      allNamespaces: false,
      output: 'yaml',
    });
  });

  it('treats everything after -- as positional', () => {
    expect(ok(['status', '--', '-odd']).name).toBe('-odd');
  });

  it.each([
    [[]],
    [['-h']],
    [['--help']],
    [['help']],
    [['status', 'shop', '--help']],
    [['list', '-h']],
  ])('%j asks for help', (argv) => {
    expect(ok(argv).verb).toBe('help');
  });

  it('reads version', () => {
    expect(ok(['version']).verb).toBe('version');
  });

  it.each([
    [['status', 'shop', '--bogus'], 'unknown flag "--bogus"'],
    [['status', 'shop', '--bogus=1'], 'unknown flag "--bogus"'],
    [['list', '-x'], 'unknown flag "-x"'],
    [['list', '-xyz'], 'unknown flag "-xyz"'],
    [['list', '--namespaces', 'a'], 'unknown flag "--namespaces"'],
    [['list', '--all-namespaces=true'], 'flag "--all-namespaces" takes no value'],
  ])('refuses %j naming the flag', (argv, message) => {
    expect(error(argv)).toBe(message);
  });

  it.each([
    [['list', '-n']],
    [['list', '--namespace']],
    [['list', '-n', '-o', 'json']],
    [['list', '--context=']],
    [['list', '-o']],
  ])('refuses %j: the flag needs a value', (argv) => {
    expect(error(argv)).toMatch(/^flag "(-n|--namespace|--context|-o)" needs a value$/);
  });

  it('refuses an unknown output format, naming it', () => {
    expect(error(['list', '-o', 'wide'])).toBe(
      '--output must be one of text, json, yaml, got "wide"',
    );
  });

  it('refuses an unknown verb, naming it and the known ones', () => {
    expect(error(['get', 'shop'])).toBe(
      'unknown command "get": expected one of status, list, backup, backups, restore, verify, promote, abort, retry, pause, resume, version, help',
    );
  });

  it('parses the rollout actions, --full for promote only', () => {
    expect(parseArgs(['promote', 'shop', '--full', '-n', 'prod'])).toEqual({
      ok: true,
      options: {
        verb: 'promote',
        name: 'shop',
        full: true,
        namespace: 'prod',
        allNamespaces: false,
        output: 'text',
      },
    });
    expect(parseArgs(['abort', 'shop'])).toMatchObject({ ok: true, options: { verb: 'abort' } });
    expect(error(['abort', 'shop', '--full'])).toBe('--full applies to promote only, not abort');
    expect(error(['retry'])).toBe('retry needs one Trench NAME: kubectl trench retry NAME');
    expect(error(['pause', 'a', 'b'])).toBe(
      'pause needs one Trench NAME: kubectl trench pause NAME',
    );
    expect(error(['resume', 'shop', '-A'])).toBe(
      'resume is about one Trench: --all-namespaces does not apply',
    );
    expect(error(['promote', 'shop', '--wait'])).toContain('--wait applies to');
  });

  it('parses backup NAME --wait and backups NAME, and refuses what does not apply', () => {
    expect(parseArgs(['backup', 'shop', '--wait', '-n', 'prod'])).toEqual({
      ok: true,
      options: {
        verb: 'backup',
        name: 'shop',
        wait: true,
        namespace: 'prod',
        allNamespaces: false,
        output: 'text',
      },
    });
    expect(parseArgs(['backups', 'shop'])).toMatchObject({
      ok: true,
      options: { verb: 'backups', name: 'shop' },
    });
    expect(error(['backup'])).toBe('backup needs one Trench NAME: kubectl trench backup NAME');
    expect(error(['backups', 'a', 'b'])).toMatch(/backups needs one Trench NAME/);
    expect(error(['backups', 'shop', '--wait'])).toBe(
      '--wait applies to backup, restore and verify only, not backups',
    );
    expect(error(['backup', 'shop', '-A'])).toMatch(/--all-namespaces does not apply/);
    expect(error(['backup', 'shop', '--wait=yes'])).toBe('flag "--wait" takes no value');
  });

  it('parses restore NAME --from BACKUP [--wait] [--force], and refuses what does not apply', () => {
    expect(parseArgs(['restore', 'shop', '--from', 'shop-202612040300', '--wait'])).toEqual({
      ok: true,
      options: {
        verb: 'restore',
        name: 'shop',
        from: 'shop-202612040300',
        wait: true,
        allNamespaces: false,
        output: 'text',
      },
    });
    expect(parseArgs(['restore', 'shop', '--from=b', '--force'])).toMatchObject({
      ok: true,
      options: { from: 'b', force: true },
    });
    expect(error(['restore', 'shop'])).toBe(
      'restore needs --from BACKUP, the TrenchBackup to restore (kubectl trench backups NAME lists them)',
    );
    expect(error(['restore', '--from', 'b'])).toBe(
      'restore needs one Trench NAME: kubectl trench restore NAME --from BACKUP',
    );
    expect(error(['restore', 'shop', '--from'])).toBe('flag "--from" needs a value');
    expect(error(['backup', 'shop', '--from', 'b'])).toBe(
      '--from applies to restore only, not backup',
    );
    expect(error(['backups', 'shop', '--force'])).toBe(
      '--force applies to restore only, not backups',
    );
  });

  it('parses verify NAME [BACKUP] [--wait], and refuses what does not apply', () => {
    expect(ok(['verify', 'shop'])).toEqual({
      verb: 'verify',
      name: 'shop',
      allNamespaces: false,
      output: 'text',
    });
    expect(ok(['verify', 'shop', 'shop-202612040300', '--wait', '-n', 'prod'])).toMatchObject({
      verb: 'verify',
      name: 'shop',
      backup: 'shop-202612040300',
      wait: true,
      namespace: 'prod',
    });
    expect(error(['verify'])).toBe(
      'verify needs one Trench NAME and at most one BACKUP: kubectl trench verify NAME [BACKUP]',
    );
    expect(error(['verify', 'a', 'b', 'c'])).toMatch(/^verify needs one Trench NAME/);
    expect(error(['verify', 'shop', '-A'])).toBe(
      'verify is about one Trench: --all-namespaces does not apply',
    );
    expect(error(['verify', 'shop', '--from', 'b'])).toBe(
      '--from applies to restore only, not verify',
    );
  });

  it('refuses status without a NAME or with two', () => {
    expect(error(['status'])).toMatch(/status needs a Trench NAME/);
    expect(error(['status', '-n', 'prod'])).toMatch(/status needs a Trench NAME/);
    expect(error(['status', 'a', 'b'])).toBe('status takes one NAME, got 2: a b');
  });

  it('refuses --all-namespaces for status and arguments for list', () => {
    expect(error(['status', 'shop', '-A'])).toMatch(/--all-namespaces does not apply/);
    expect(error(['list', 'shop'])).toBe('list takes no arguments, got shop');
  });
});

describe('USAGE', () => {
  it('documents every flag and every exit code', () => {
    for (const flag of [
      '--namespace',
      '-n,',
      '-A,',
      '--context',
      '--kubeconfig',
      '-o,',
      '--output',
      '-h,',
    ]) {
      expect(USAGE).toContain(flag);
    }
    for (const code of ['0', '1', '2', '3', '4'])
      expect(USAGE).toMatch(new RegExp(`^  ${code}  `, 'm'));
  });
});
