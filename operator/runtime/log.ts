// Structured JSON logs, one object per line: {time, level, msg, ...fields}.
// Style (DESIGN.md): messages start with a capital letter, no period, past tense, name the kind,
// e.g. "Applied Deployment". Fields carry the variable parts so logs stay greppable.

export type Level = 'debug' | 'info' | 'warn' | 'error';
export type Fields = Record<string, unknown>;

const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: Fields): Logger;
}

export interface LoggerOptions {
  /** Lowest level written. Default: $LOG_LEVEL or 'info'. */
  readonly level?: Level;
  /** Where lines go. Default: process.stdout. */
  readonly write?: (line: string) => void;
  /** Default: Date.now. */
  readonly now?: () => number;
  readonly fields?: Fields;
}

function isLevel(v: string | undefined): v is Level {
  return v === 'debug' || v === 'info' || v === 'warn' || v === 'error';
}

/** Errors do not JSON.stringify (their properties are not enumerable): flatten them. */
function serializable(value: unknown): unknown {
  if (value instanceof Error) {
    const out: Fields = { message: value.message, name: value.name };
    const code = (value as { statusCode?: unknown }).statusCode;
    if (code !== undefined) out.statusCode = code;
    if (value.stack) out.stack = value.stack;
    return out;
  }
  return value;
}

export function formatLine(level: Level, msg: string, time: number, fields: Fields): string {
  const record: Fields = { time: new Date(time).toISOString(), level, msg };
  for (const [k, v] of Object.entries(fields)) {
    // Reserved keys win: a field called "msg" must not hide the message.
    if (k in record || v === undefined) continue;
    record[k] = serializable(v);
  }
  try {
    return JSON.stringify(record);
  } catch {
    // A cyclic field must not lose the line.
    return JSON.stringify({ time: record.time, level, msg, fieldsError: 'unserializable' });
  }
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const envLevel = process.env.LOG_LEVEL;
  const level: Level = options.level ?? (isLevel(envLevel) ? envLevel : 'info');
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const now = options.now ?? Date.now;
  const base = options.fields ?? {};
  const min = ORDER[level];
  const emit = (l: Level, msg: string, fields?: Fields) => {
    if (ORDER[l] < min) return;
    write(formatLine(l, msg, now(), { ...base, ...fields }));
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (fields) => createLogger({ level, write, now, fields: { ...base, ...fields } }),
  };
}

/** Discards everything; the default where a logger is optional. */
export const nullLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => nullLogger,
};
