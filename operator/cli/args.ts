// Argument parsing for `kubectl trench`, pure so that every flag and every refusal has a table
// test. A hand-written parser rather than node:util parseArgs: its errors name the option in
// Node's own words ("Unknown option '-x'. To specify a positional argument starting with a
// '-'...") and it cannot say which verb a flag belongs to.

export type Verb =
  | 'status'
  | 'list'
  | 'backup'
  | 'backups'
  | 'restore'
  | 'verify'
  | RolloutVerb
  | 'version'
  | 'help';
/** The manual rollout actions: requests the operator handles once each (rollout/request.ts). */
export type RolloutVerb = 'promote' | 'abort' | 'retry' | 'pause' | 'resume';
export const ROLLOUT_VERBS: readonly RolloutVerb[] = [
  'promote',
  'abort',
  'retry',
  'pause',
  'resume',
];
export type OutputFormat = 'text' | 'json' | 'yaml';

export const VERBS: readonly Verb[] = [
  'status',
  'list',
  'backup',
  'backups',
  'restore',
  'verify',
  ...ROLLOUT_VERBS,
  'version',
  'help',
];
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['text', 'json', 'yaml'];

export interface Options {
  readonly verb: Verb;
  /** The Trench, for `status` only. */
  readonly name?: string;
  /** Unset means the kubeconfig context's namespace, else `default`; resolved by the caller. */
  readonly namespace?: string;
  readonly allNamespaces: boolean;
  readonly context?: string;
  readonly kubeconfig?: string;
  readonly output: OutputFormat;
  /** backup, restore: wait until it finished, printing its progress. */
  readonly wait?: boolean;
  /** restore: the TrenchBackup to restore. */
  readonly from?: string;
  /** verify: the TrenchBackup to drill; the newest completed one when unset. */
  readonly backup?: string;
  /** restore: restore a backup taken from another Trench. */
  readonly force?: boolean;
  /** promote: every remaining step at once. */
  readonly full?: boolean;
}

export type ParseResult =
  | { readonly ok: true; readonly options: Options }
  | { readonly ok: false; readonly error: string };

type ValueFlag = 'namespace' | 'context' | 'kubeconfig' | 'output' | 'from';

const VALUE_FLAGS: Readonly<Record<string, ValueFlag>> = {
  '-n': 'namespace',
  '--namespace': 'namespace',
  '--context': 'context',
  '--kubeconfig': 'kubeconfig',
  '-o': 'output',
  '--output': 'output',
  '--from': 'from',
};

const BOOLEAN_FLAGS: ReadonlySet<string> = new Set([
  '-h',
  '--help',
  '-A',
  '--all-namespaces',
  '--wait',
  '--force',
  '--full',
]);

export function parseArgs(argv: readonly string[]): ParseResult {
  const values: Partial<Record<ValueFlag, string>> = {};
  const positionals: string[] = [];
  let allNamespaces = false;
  let help = false;
  let wait = false;
  let force = false;
  let full = false;
  const fail = (error: string): ParseResult => ({ ok: false, error });

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h' || arg === '--help') {
      help = true;
      continue;
    }
    if (arg === '--wait') {
      wait = true;
      continue;
    }
    if (arg === '--force') {
      force = true;
      continue;
    }
    if (arg === '--full') {
      full = true;
      continue;
    }
    if (arg === '-A' || arg === '--all-namespaces') {
      allNamespaces = true;
      continue;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    // --flag=value and -nvalue are what kubectl accepts too, so scripts written for one work
    // with the other.
    const long = arg.startsWith('--');
    const eq = long ? arg.indexOf('=') : -1;
    const flag = long ? (eq > 0 ? arg.slice(0, eq) : arg) : arg.slice(0, 2);
    const key = VALUE_FLAGS[flag];
    if (!key) {
      if (BOOLEAN_FLAGS.has(flag)) return fail(`flag ${JSON.stringify(flag)} takes no value`);
      return fail(`unknown flag ${JSON.stringify(long ? flag : arg)}`);
    }
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else if (!long && arg.length > 2) value = arg.slice(2).replace(/^=/, '');
    else {
      value = argv[i + 1];
      // `-n -o json` means a forgotten value, not a namespace called "-o".
      if (value === undefined || value.startsWith('-')) {
        return fail(`flag ${JSON.stringify(flag)} needs a value`);
      }
      i++;
    }
    if (value === '') return fail(`flag ${JSON.stringify(flag)} needs a value`);
    values[key] = value;
  }

  const output = values.output ?? 'text';
  if (!(OUTPUT_FORMATS as readonly string[]).includes(output)) {
    return fail(
      `--output must be one of ${OUTPUT_FORMATS.join(', ')}, got ${JSON.stringify(output)}`,
    );
  }

  const [first, ...rest] = positionals;
  if (help || first === undefined) {
    return { ok: true, options: { verb: 'help', allNamespaces, output: output as OutputFormat } };
  }
  if (!(VERBS as readonly string[]).includes(first)) {
    return fail(`unknown command ${JSON.stringify(first)}: expected one of ${VERBS.join(', ')}`);
  }
  const verb = first as Verb;
  const common = {
    verb,
    allNamespaces,
    output: output as OutputFormat,
    ...(values.namespace !== undefined ? { namespace: values.namespace } : {}),
    ...(values.context !== undefined ? { context: values.context } : {}),
    ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {}),
  };

  if (wait && verb !== 'backup' && verb !== 'restore' && verb !== 'verify') {
    return fail(`--wait applies to backup, restore and verify only, not ${verb}`);
  }
  if (values.from !== undefined && verb !== 'restore') {
    return fail(`--from applies to restore only, not ${verb}`);
  }
  if (force && verb !== 'restore') return fail(`--force applies to restore only, not ${verb}`);
  if (full && verb !== 'promote') return fail(`--full applies to promote only, not ${verb}`);
  switch (verb) {
    case 'promote':
    case 'abort':
    case 'retry':
    case 'pause':
    case 'resume': {
      if (rest.length !== 1)
        return fail(`${verb} needs one Trench NAME: kubectl trench ${verb} NAME`);
      if (allNamespaces)
        return fail(`${verb} is about one Trench: --all-namespaces does not apply`);
      return { ok: true, options: { ...common, name: rest[0]!, ...(full ? { full } : {}) } };
    }
    case 'restore': {
      if (rest.length !== 1) {
        return fail('restore needs one Trench NAME: kubectl trench restore NAME --from BACKUP');
      }
      if (values.from === undefined) {
        return fail(
          'restore needs --from BACKUP, the TrenchBackup to restore (kubectl trench backups NAME lists them)',
        );
      }
      if (allNamespaces)
        return fail('restore is about one Trench: --all-namespaces does not apply');
      return {
        ok: true,
        options: {
          ...common,
          name: rest[0]!,
          from: values.from,
          ...(wait ? { wait } : {}),
          ...(force ? { force } : {}),
        },
      };
    }
    case 'verify': {
      if (rest.length < 1 || rest.length > 2) {
        return fail(
          'verify needs one Trench NAME and at most one BACKUP: kubectl trench verify NAME [BACKUP]',
        );
      }
      if (allNamespaces) return fail('verify is about one Trench: --all-namespaces does not apply');
      return {
        ok: true,
        options: {
          ...common,
          name: rest[0]!,
          ...(rest[1] !== undefined ? { backup: rest[1] } : {}),
          ...(wait ? { wait } : {}),
        },
      };
    }
    case 'backup':
    case 'backups': {
      if (rest.length !== 1)
        return fail(`${verb} needs one Trench NAME: kubectl trench ${verb} NAME`);
      if (allNamespaces)
        return fail(`${verb} is about one Trench: --all-namespaces does not apply`);
      return { ok: true, options: { ...common, name: rest[0]!, ...(wait ? { wait } : {}) } };
    }
    case 'status': {
      if (rest.length === 0) return fail('status needs a Trench NAME: kubectl trench status NAME');
      if (rest.length > 1)
        return fail(`status takes one NAME, got ${rest.length}: ${rest.join(' ')}`);
      if (allNamespaces) return fail('status reads one Trench: --all-namespaces does not apply');
      return { ok: true, options: { ...common, name: rest[0]! } };
    }
    case 'list':
    case 'version':
    case 'help':
      if (rest.length > 0) return fail(`${verb} takes no arguments, got ${rest.join(' ')}`);
      return { ok: true, options: common };
  }
}

export const USAGE = `kubectl trench: inspect Trenches (playtrenches.xyz/v1alpha1)

Usage:
  kubectl trench status NAME [flags]   one Trench: phase, conditions, replicas, rollout, backups,
                                       firing and pending alerts from its Prometheus (text only)
  kubectl trench list [flags]          a table of the Trenches in a namespace (or all, with -A)
  kubectl trench backup NAME [--wait]  take a backup now: creates a TrenchBackup (reason manual,
                                       never an edit of the Trench); --wait prints its progress
                                       and exits 0 when it completes, 1 when it fails
  kubectl trench backups NAME          the Trench's TrenchBackups, newest first
  kubectl trench restore NAME --from BACKUP [--wait] [--force]
                                       restore a backup in place: creates a TrenchRestore that
                                       verifies the file, stops the API and workers, restores in
                                       one transaction and starts them again; --wait prints its
                                       progress and exits 0 when it completes, 1 when it fails
  kubectl trench verify NAME [BACKUP] [--wait]
                                       a restore drill now: the backup (default: the newest
                                       completed) is restored into a throwaway PostgreSQL and
                                       every table read; --wait exits 0 when it passes, 1 when
                                       it fails
  kubectl trench promote NAME [--full] the canary's next step now (a pause ends, a weight is
                                       skipped); --full: every remaining step, then promotion
  kubectl trench abort NAME            stop the canary: it gets no traffic, stable serves all;
                                       it stays aborted until the spec changes or a retry
  kubectl trench retry NAME            start an aborted canary again from its first step
  kubectl trench pause NAME            hold the canary at its step (analysis goes on)
  kubectl trench resume NAME           continue a canary held by pause
                                       These five annotate the Trench (never its spec), wait up
                                       to 30 s for the operator to answer and print it: 0 done,
                                       1 refused (with why: no rollout running, say)
  kubectl trench version               the plugin's version
  kubectl trench help                  this text

Flags:
  -n, --namespace NS       namespace (default: the kubeconfig context's namespace, else "default")
  -A, --all-namespaces     list: Trenches of every namespace
      --context NAME       kubeconfig context to use (default: the current context)
      --kubeconfig FILE    kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)
  -o, --output FORMAT      text (default), json or yaml
      --wait               backup, restore, verify: wait until it finished
      --from BACKUP        restore: the TrenchBackup to restore
      --force              restore: allow a backup taken from another Trench
      --full               promote: every remaining step at once
  -h, --help               this text

Exit codes (the same for every --output):
  0  success; for status, the Trench is Ready (phase Ready, status observed the current generation)
  1  status: the Trench exists but is not Ready (another phase, no status yet, or status behind);
     backup --wait, restore --wait, verify --wait: the backup, restore or drill failed;
     restore, verify: refused before anything was written (the backup has not completed);
     promote, abort, retry, pause, resume: refused, or not answered within 30 s
  2  usage error: unknown command or flag, missing NAME, bad flag value, unknown context,
     unreadable kubeconfig
  3  not found: the Trench does not exist (or the API server has no Trench CRD); restore,
     verify: the TrenchBackup does not exist; --wait: the object was deleted while waiting
  4  the API server cannot be reached or answered with an error: refused the credentials (401),
     forbade the request (403), failed it (5xx), or did not answer within 30 s
  5  a bug in the plugin (the stack trace is on stderr)
`;
