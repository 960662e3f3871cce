import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { InvalidInputError } from '../../lambdas/errors.js';

/**
 * The journal of a fleet rotation (`rekey rotate --all …`): the plan and where each key stands, rewritten
 * atomically (a temporary file, then rename) after every change, so a run stopped by Ctrl-C or a crash
 * resumes (`rekey rotate --resume <journal>`) without starting any key's rotation twice:
 * - `planned`: nothing was asked of AWS for the key yet;
 * - `starting`: written *before* RotateSecret, with the version that was AWSCURRENT then — a resume finds out
 *   from the secret whether the call got through (a new version pending or current) or not;
 * - `started`: RotateSecret answered with the version (its ClientRequestToken) being rotated in;
 * - `done` / `failed` / `skipped`: settled.
 * It holds names, ARNs and version ids only — never a key value.
 */

/** `at`: when the key's start began (ISO), so its time is measured across a resume. */
const Started = z.object({
  versionId: z.string(),
  previousVersionId: z.string().optional(),
  at: z.string().optional(),
});

export const KeyStateSchema = z.discriminatedUnion('state', [
  z.object({ state: z.literal('planned') }),
  z.object({ state: z.literal('skipped'), reason: z.string() }),
  z.object({
    state: z.literal('starting'),
    at: z.string(),
    previousVersionId: z.string().optional(),
    /** A version another run left pending before this start: not this run's rotation. */
    pendingVersionId: z.string().optional(),
  }),
  z.object({ state: z.literal('started'), ...Started.shape }),
  z.object({
    state: z.literal('done'),
    ...Started.shape,
    /** promoted, or old-key-revoked for an emergency with no grace. */
    status: z.enum(['promoted', 'old-key-revoked']),
    seconds: z.number(),
  }),
  z.object({
    state: z.literal('failed'),
    code: z.string(),
    reason: z.string(),
    versionId: z.string().optional(),
    seconds: z.number().optional(),
  }),
]);
export type KeyState = z.infer<typeof KeyStateSchema>;

const JournalKeySchema = z.object({
  /** The inventory entry. */
  name: z.string(),
  /** What the commands pass as SecretId: the secret's ARN when the inventory names one, else its name. */
  secret: z.string(),
  provider: z.string(),
  status: KeyStateSchema,
});
export type JournalKey = z.infer<typeof JournalKeySchema>;

export const JOURNAL_FORMAT = 'rekey-rotate-journal/1';

const JournalSchema = z.object({
  format: z.literal(JOURNAL_FORMAT),
  runId: z.string(),
  createdAt: z.string(),
  /** The inventory the run was planned from (absolute path). */
  inventory: z.string(),
  /** The selection as given (`--all`, `--tag k=v`, `--provider p`), for people. */
  selection: z.array(z.string()),
  emergency: z.boolean(),
  graceSeconds: z.number(),
  keys: z.array(JournalKeySchema),
});
export type JournalDocument = z.infer<typeof JournalSchema>;

/** A run id that sorts by time and is unique enough for one operator's runs: 20261202T015032Z-1a2b3c. */
export function newRunId(now = new Date()): string {
  return `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '')}-${randomBytes(3).toString('hex')}`;
}

/** Where a run's journal goes unless `--journal` says: `.rekey/rotate-<run id>.json` under the working directory. */
export function defaultJournalPath(runId: string): string {
  return join('.rekey', `rotate-${runId}.json`);
}

export class Journal {
  private constructor(
    readonly path: string,
    readonly document: JournalDocument,
  ) {}

  /** A new journal, written at once: the plan is on disk before anything is asked of AWS. */
  static create(path: string, document: JournalDocument): Journal {
    mkdirSync(dirname(path), { recursive: true });
    const journal = new Journal(path, document);
    journal.save();
    return journal;
  }

  static read(path: string): Journal {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new InvalidInputError(
        'INVALID_INPUT',
        `--resume: cannot read the journal ${JSON.stringify(path)} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'}); give the path \`rekey rotate\` printed when the run started.`,
        { field: '--resume' },
      );
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      raw = undefined; // not JSON: refused below like any other shape
    }
    const parsed = JournalSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new InvalidInputError(
        'INVALID_INPUT',
        `--resume: ${JSON.stringify(path)} is not a ${JOURNAL_FORMAT} journal${issue?.path.length ? ` (field ${issue.path.join('.')}: ${issue.message})` : ''}; give the journal \`rekey rotate\` wrote, unedited.`,
        { field: '--resume' },
      );
    }
    return new Journal(path, parsed.data);
  }

  get keys(): readonly JournalKey[] {
    return this.document.keys;
  }

  /** Records where `key` stands now, and writes the journal before returning. */
  set(key: JournalKey, status: KeyState): void {
    key.status = status;
    this.save();
  }

  /** Writes the whole journal to a temporary file beside it, then renames it over the journal (atomic). */
  save(): void {
    const temporary = `${this.path}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(this.document, null, 2)}\n`, { mode: 0o600 });
    renameSync(temporary, this.path);
  }
}
