import { randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { LambdaRegistry } from './lambda.js';
import {
  type AwsRequest,
  type AwsResponse,
  type AwsService,
  AwsServiceError,
  epochSeconds,
  jsonError,
  jsonResponse,
  parseJsonBody,
} from './protocol.js';
import { nextRotationDate, type RotationRules } from './rotation-window.js';

const CURRENT = 'AWSCURRENT';
const PENDING = 'AWSPENDING';
const PREVIOUS = 'AWSPREVIOUS';
const STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;
export type RotationStep = (typeof STEPS)[number];

interface Version {
  id: string;
  value?: string;
  stages: Set<string>;
  created: Date;
  lastAccessed?: Date;
}

interface Secret {
  arn: string;
  name: string;
  description?: string;
  kmsKeyId?: string;
  tags: Map<string, string>;
  versions: Map<string, Version>;
  created: Date;
  lastChanged: Date;
  lastAccessed?: Date;
  rotationEnabled: boolean;
  rotationLambdaArn?: string;
  rotationRules?: Record<string, unknown>;
  lastRotated?: Date;
  /** When RotateSecret last set the rotation rules: a rate counts from here until the first rotation. */
  rulesSetAt?: Date;
  /** The version id of a rotation whose steps are running now. */
  rotating?: string;
  /** ClientRequestTokens of RotateSecret calls that started a rotation. */
  rotationTokens: Set<string>;
}

/** How a rotation run ended, for tests and the rehearsal. */
export interface RotationOutcome {
  secretName: string;
  versionId: string;
  ok: boolean;
  failedStep?: RotationStep;
  error?: string;
}

/**
 * Secrets Manager over its real wire protocol (AWS JSON 1.1), with its version and staging-label semantics.
 * Covers what rekey uses; see README "Loopback AWS endpoint" for what it leaves out.
 */
export class SecretsManagerService implements AwsService {
  readonly signingNames = ['secretsmanager'] as const;
  private readonly secrets = new Map<string, Secret>();
  /** Secrets by full ARN and by partial ARN (without the random suffix): a lookup by ARN is one get. */
  private readonly byArn = new Map<string, Secret>();
  private readonly running = new Set<Promise<void>>();
  private readonly redeliveries = new Map<RotationStep, number>();
  private readonly reattempts: Array<{
    arn: string;
    token: string;
    lambdaArn: string;
    reattempt: number;
    at: number;
  }> = [];
  /**
   * Waits before Secrets Manager re-attempts a failed rotation; one entry per re-attempt. AWS documents
   * that it retries "multiple times" without the timing; the loopback's choice is stated here.
   */
  reattemptDelaysMs: number[] = [5 * 60_000, 15 * 60_000, 60 * 60_000];
  readonly outcomes: RotationOutcome[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly lambdas: LambdaRegistry,
    private readonly region: string,
    private readonly accountId: string,
  ) {}

  /** Deliver `step` twice on the next `times` rotations, as Secrets Manager may (at-least-once). */
  deliverTwice(step: RotationStep, times = 1): void {
    this.redeliveries.set(step, (this.redeliveries.get(step) ?? 0) + times);
  }

  /** Resolves once no rotation is running. */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  /** The value staged `stage`, read in-process (the rehearsal's invariant monitors sample it often). */
  peekValue(secretId: string, stage = CURRENT): string | undefined {
    return [...this.find(secretId).versions.values()].find((v) => v.stages.has(stage))?.value;
  }

  /** Every stored value of the secret whose version still carries a label. */
  labelledValues(secretId: string): string[] {
    return [...this.find(secretId).versions.values()]
      .filter((v) => v.stages.size > 0 && v.value !== undefined)
      .map((v) => v.value!);
  }

  /** The staging labels of every version that has any, like DescribeSecret's VersionIdsToStages. */
  stagesOf(secretId: string): Record<string, string[]> {
    return versionsToStages(this.find(secretId));
  }

  async handle(request: AwsRequest): Promise<AwsResponse> {
    const target = String(request.headers['x-amz-target'] ?? '');
    const operation = target.startsWith('secretsmanager.') ? target.slice('secretsmanager.'.length) : '';
    try {
      const input = parseJsonBody(request.body);
      const handler = this.operations[operation];
      if (!handler)
        throw new AwsServiceError(
          'UnknownOperationException',
          `The loopback endpoint does not implement secretsmanager.${operation || '(none)'}.`,
        );
      return jsonResponse(await handler(input));
    } catch (error) {
      if (error instanceof AwsServiceError) return jsonError(error);
      return jsonError(
        new AwsServiceError(
          'InternalServiceError',
          error instanceof Error ? error.message : 'internal error',
          500,
        ),
      );
    }
  }

  private readonly operations: Record<
    string,
    (input: Record<string, unknown>) => Promise<unknown> | unknown
  > = {
    CreateSecret: (input) => this.createSecret(input),
    DescribeSecret: (input) => this.describeSecret(this.find(str(input, 'SecretId'))),
    GetSecretValue: (input) => this.getSecretValue(input),
    BatchGetSecretValue: (input) => this.batchGetSecretValue(input),
    PutSecretValue: (input) => this.putSecretValue(input),
    UpdateSecretVersionStage: (input) => this.updateSecretVersionStage(input),
    ListSecretVersionIds: (input) => this.listSecretVersionIds(input),
    ListSecrets: (input) => this.listSecrets(input),
    RotateSecret: (input) => this.rotateSecret(input),
    CancelRotateSecret: (input) => this.cancelRotateSecret(input),
    TagResource: (input) => this.tagResource(input),
    UntagResource: (input) => this.untagResource(input),
    DeleteSecret: (input) => this.deleteSecret(input),
  };

  private find(secretId: string): Secret {
    const byName = this.secrets.get(secretId);
    if (byName) return byName;
    const byArn = this.byArn.get(secretId);
    if (byArn) return byArn;
    throw new AwsServiceError(
      'ResourceNotFoundException',
      "Secrets Manager can't find the specified secret.",
    );
  }

  private createSecret(input: Record<string, unknown>): unknown {
    const name = str(input, 'Name');
    if (!/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name)) {
      throw new AwsServiceError(
        'InvalidParameterException',
        'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!',
      );
    }
    if (this.secrets.has(name))
      throw new AwsServiceError(
        'ResourceExistsException',
        `The operation failed because the secret ${name} already exists.`,
      );
    const now = this.clock.now();
    const suffix = randomBytes(6)
      .toString('base64url')
      .replace(/[^A-Za-z0-9]/g, 'x')
      .slice(0, 6);
    const secret: Secret = {
      arn: `arn:aws:secretsmanager:${this.region}:${this.accountId}:secret:${name}-${suffix}`,
      name,
      tags: new Map(),
      versions: new Map(),
      created: now,
      lastChanged: now,
      rotationEnabled: false,
      rotationTokens: new Set(),
    };
    if (typeof input.Description === 'string') secret.description = input.Description;
    if (typeof input.KmsKeyId === 'string') secret.kmsKeyId = input.KmsKeyId;
    for (const tag of tagList(input.Tags)) secret.tags.set(tag.Key, tag.Value);
    this.secrets.set(name, secret);
    this.byArn.set(secret.arn, secret);
    const partial = secret.arn.slice(0, -7);
    if (!this.byArn.has(partial)) this.byArn.set(partial, secret);
    const value = optionalStr(input, 'SecretString');
    if (value === undefined) return { ARN: secret.arn, Name: name };
    const id = clientRequestToken(input) ?? randomUUID();
    secret.versions.set(id, { id, value, stages: new Set([CURRENT]), created: now });
    return { ARN: secret.arn, Name: name, VersionId: id };
  }

  private describeSecret(secret: Secret): unknown {
    return {
      ARN: secret.arn,
      Name: secret.name,
      ...(secret.description ? { Description: secret.description } : {}),
      ...(secret.kmsKeyId ? { KmsKeyId: secret.kmsKeyId } : {}),
      RotationEnabled: secret.rotationEnabled,
      ...(secret.rotationLambdaArn ? { RotationLambdaARN: secret.rotationLambdaArn } : {}),
      ...(secret.rotationRules ? { RotationRules: secret.rotationRules } : {}),
      ...(secret.lastRotated ? { LastRotatedDate: epochSeconds(secret.lastRotated) } : {}),
      ...this.nextRotation(secret),
      LastChangedDate: epochSeconds(secret.lastChanged),
      ...(secret.lastAccessed ? { LastAccessedDate: epochSeconds(secret.lastAccessed) } : {}),
      CreatedDate: epochSeconds(secret.created),
      Tags: [...secret.tags].map(([Key, Value]) => ({ Key, Value })),
      VersionIdsToStages: versionsToStages(secret),
    };
  }

  private nextRotation(secret: Secret): { NextRotationDate?: number } {
    if (!secret.rotationEnabled) return {};
    const since = secret.lastRotated ?? secret.rulesSetAt ?? secret.created;
    const next = nextRotationDate(secret.rotationRules as RotationRules | undefined, this.clock.now(), since);
    return next ? { NextRotationDate: epochSeconds(next) } : {};
  }

  private getSecretValue(input: Record<string, unknown>): unknown {
    const secret = this.find(str(input, 'SecretId'));
    const versionId = optionalStr(input, 'VersionId');
    const stage = optionalStr(input, 'VersionStage') ?? (versionId ? undefined : CURRENT);
    let version: Version | undefined;
    if (versionId) {
      version = secret.versions.get(versionId);
      if (version && stage && !version.stages.has(stage)) version = undefined;
    } else {
      version = [...secret.versions.values()].find((v) => v.stages.has(stage!));
    }
    if (!version || version.value === undefined) {
      throw new AwsServiceError(
        'ResourceNotFoundException',
        versionId
          ? `Secrets Manager can't find the specified secret value for VersionId: ${versionId}`
          : `Secrets Manager can't find the specified secret value for staging label: ${stage}`,
      );
    }
    const now = this.clock.now();
    version.lastAccessed = now;
    secret.lastAccessed = now;
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.id,
      SecretString: version.value,
      VersionStages: [...version.stages],
      CreatedDate: epochSeconds(version.created),
    };
  }

  /**
   * BatchGetSecretValue by SecretIdList, as the API reference documents it: "Retrieves the contents of the
   * encrypted fields SecretString or SecretBinary for up to 20 secrets"; a secret that cannot be read is
   * reported in `Errors` (SecretId, ErrorCode, ErrorMessage) while the others are returned; AWSCURRENT of
   * each. Filters (which need ListSecrets) are not modelled: the loopback says so rather than guessing.
   * https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_BatchGetSecretValue.html
   */
  private batchGetSecretValue(input: Record<string, unknown>): unknown {
    if (input.Filters !== undefined)
      throw new AwsServiceError(
        'InvalidParameterException',
        'The loopback endpoint models BatchGetSecretValue with SecretIdList only, not Filters.',
      );
    const ids = input.SecretIdList;
    if (!Array.isArray(ids) || ids.length === 0 || ids.some((id) => typeof id !== 'string'))
      throw new AwsServiceError('InvalidParameterException', 'You must provide Filters or SecretIdList.');
    if (ids.length > 20)
      throw new AwsServiceError(
        'InvalidParameterException',
        'SecretIdList can contain no more than 20 secret IDs.',
      );
    const values: unknown[] = [];
    const errors: unknown[] = [];
    for (const id of ids as string[]) {
      try {
        values.push(this.getSecretValue({ SecretId: id }));
      } catch (error) {
        if (!(error instanceof AwsServiceError)) throw error;
        errors.push({ SecretId: id, ErrorCode: error.type, ErrorMessage: error.message });
      }
    }
    return { SecretValues: values, Errors: errors };
  }

  private putSecretValue(input: Record<string, unknown>): unknown {
    const secret = this.find(str(input, 'SecretId'));
    const value = optionalStr(input, 'SecretString');
    if (value === undefined)
      throw new AwsServiceError(
        'InvalidParameterException',
        'You must provide either SecretString or SecretBinary.',
      );
    const id = clientRequestToken(input) ?? randomUUID();
    const stages = Array.isArray(input.VersionStages) ? (input.VersionStages as string[]) : [CURRENT];
    const existing = secret.versions.get(id);
    if (existing?.value !== undefined) {
      if (existing.value !== value) {
        throw new AwsServiceError(
          'ResourceExistsException',
          "You can't modify an existing version, you can only create a new version.",
        );
      }
      return { ARN: secret.arn, Name: secret.name, VersionId: id, VersionStages: [...existing.stages] };
    }
    const version: Version = existing ?? { id, stages: new Set(), created: this.clock.now() };
    version.value = value;
    secret.versions.set(id, version);
    for (const stage of stages) this.attachStage(secret, stage, version);
    secret.lastChanged = this.clock.now();
    return { ARN: secret.arn, Name: secret.name, VersionId: id, VersionStages: [...version.stages] };
  }

  /** Attaches `stage` to `version`, taking it from whichever version had it; AWSCURRENT leaves AWSPREVIOUS behind. */
  private attachStage(secret: Secret, stage: string, version: Version): void {
    const holder = [...secret.versions.values()].find((v) => v.stages.has(stage));
    if (holder === version) return;
    holder?.stages.delete(stage);
    version.stages.add(stage);
    if (stage === CURRENT && holder) {
      for (const v of secret.versions.values()) v.stages.delete(PREVIOUS);
      holder.stages.add(PREVIOUS);
    }
  }

  private updateSecretVersionStage(input: Record<string, unknown>): unknown {
    const secret = this.find(str(input, 'SecretId'));
    const stage = str(input, 'VersionStage');
    const moveTo = optionalStr(input, 'MoveToVersionId');
    const removeFrom = optionalStr(input, 'RemoveFromVersionId');
    const holder = [...secret.versions.values()].find((v) => v.stages.has(stage));
    if (moveTo !== undefined) {
      const target = secret.versions.get(moveTo);
      if (!target)
        throw new AwsServiceError('InvalidParameterException', `The version ${moveTo} does not exist.`);
      if (holder && holder !== target && removeFrom !== holder.id) {
        throw new AwsServiceError(
          'InvalidParameterException',
          `The parameter RemoveFromVersionId is required because the staging label ${stage} is currently attached to version ${holder.id}.`,
        );
      }
      this.attachStage(secret, stage, target);
    } else {
      if (removeFrom === undefined)
        throw new AwsServiceError(
          'InvalidParameterException',
          'You must specify MoveToVersionId or RemoveFromVersionId.',
        );
      if (!holder || holder.id !== removeFrom) {
        throw new AwsServiceError(
          'InvalidParameterException',
          `The staging label ${stage} is not attached to version ${removeFrom}.`,
        );
      }
      if (stage === CURRENT)
        throw new AwsServiceError(
          'InvalidParameterException',
          'You can only move AWSCURRENT to another version, not remove it.',
        );
      holder.stages.delete(stage);
    }
    secret.lastChanged = this.clock.now();
    return { ARN: secret.arn, Name: secret.name };
  }

  private listSecretVersionIds(input: Record<string, unknown>): unknown {
    const secret = this.find(str(input, 'SecretId'));
    const all = input.IncludeDeprecated === true;
    const versions = [...secret.versions.values()]
      .filter((v) => all || v.stages.size > 0)
      .map((v) => ({
        VersionId: v.id,
        VersionStages: [...v.stages],
        CreatedDate: epochSeconds(v.created),
        ...(v.lastAccessed ? { LastAccessedDate: epochSeconds(v.lastAccessed) } : {}),
      }));
    return { ARN: secret.arn, Name: secret.name, ...paginate(versions, input, 'Versions') };
  }

  private listSecrets(input: Record<string, unknown>): unknown {
    const filters = Array.isArray(input.Filters)
      ? (input.Filters as Array<{ Key: string; Values: string[] }>)
      : [];
    const matches = (secret: Secret): boolean =>
      filters.every((filter) =>
        filter.Values.some((value) => {
          switch (filter.Key) {
            case 'name':
              return secret.name.startsWith(value);
            case 'tag-key':
              return secret.tags.has(value);
            case 'tag-value':
              return [...secret.tags.values()].includes(value);
            case 'description':
              return (secret.description ?? '').startsWith(value);
            default:
              return (
                secret.name.includes(value) ||
                [...secret.tags].some(([k, v]) => k.includes(value) || v.includes(value))
              );
          }
        }),
      );
    const list = [...this.secrets.values()].filter(matches).map((secret) => {
      const { VersionIdsToStages, ...rest } = this.describeSecret(secret) as Record<string, unknown>;
      return { ...rest, SecretVersionsToStages: VersionIdsToStages };
    });
    return paginate(list, input, 'SecretList');
  }

  /**
   * RotateImmediately false: "Secrets Manager tests the rotation configuration by running the testSecret step
   * of the Lambda rotation function. The test creates an AWSPENDING version of the secret and then removes
   * it" (API reference, RotateSecret) — a version holding the current value. What AWS answers when the test
   * fails is not documented; here RotateSecret fails with the step's error (modelled).
   */
  private async testRotationConfiguration(secret: Secret, lambdaArn: string): Promise<void> {
    const current = [...secret.versions.values()].find((v) => v.stages.has(CURRENT));
    if (current?.value === undefined) return;
    const token = randomUUID();
    secret.versions.set(token, {
      id: token,
      value: current.value,
      stages: new Set([PENDING]),
      created: this.clock.now(),
    });
    try {
      await this.lambdas.invoke(lambdaArn, {
        Step: 'testSecret',
        SecretId: secret.arn,
        ClientRequestToken: token,
        RotationToken: randomUUID(),
      });
    } catch (error) {
      throw new AwsServiceError(
        'InvalidRequestException',
        `The rotation configuration test (testSecret) failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    } finally {
      secret.versions.delete(token);
    }
  }

  private async rotateSecret(input: Record<string, unknown>): Promise<unknown> {
    const secret = this.find(str(input, 'SecretId'));
    const lambdaArn = optionalStr(input, 'RotationLambdaARN') ?? secret.rotationLambdaArn;
    if (!lambdaArn)
      throw new AwsServiceError(
        'InvalidRequestException',
        'No Lambda rotation function ARN is associated with this secret.',
      );
    if (!this.lambdas.has(lambdaArn)) {
      throw new AwsServiceError(
        'AccessDeniedException',
        `Secrets Manager cannot invoke the specified Lambda function ${lambdaArn}.`,
      );
    }
    const token = clientRequestToken(input) ?? randomUUID();
    const existing = secret.versions.get(token);
    // The SDK fills ClientRequestToken once per call and re-sends it on retries: a repeat is the same request.
    if (existing?.stages.has(CURRENT) || secret.rotationTokens.has(token))
      return { ARN: secret.arn, Name: secret.name, VersionId: token };
    const pending = [...secret.versions.values()].find(
      (v) => v.stages.has(PENDING) && !v.stages.has(CURRENT),
    );
    // "If the AWSPENDING staging label is present but not attached to the same version as AWSCURRENT, then
    // any later invocation of RotateSecret assumes that a previous rotation request is still in progress and
    // returns an error" (API reference, RotateSecret) — also when the call names that pending version.
    if (secret.rotating || pending) {
      throw new AwsServiceError(
        'InvalidRequestException',
        "A previous rotation isn't complete. That rotation will be reattempted.",
      );
    }
    secret.rotationLambdaArn = lambdaArn;
    secret.rotationEnabled = true;
    if (input.RotationRules && typeof input.RotationRules === 'object') {
      secret.rotationRules = input.RotationRules as Record<string, unknown>;
      secret.rulesSetAt = this.clock.now();
    }
    if (input.RotateImmediately === false) {
      await this.testRotationConfiguration(secret, lambdaArn);
      return { ARN: secret.arn, Name: secret.name };
    }

    if (existing)
      throw new AwsServiceError(
        'InvalidRequestException',
        `You can't use ClientRequestToken ${token}: a version with that id already exists.`,
      );
    secret.versions.set(token, { id: token, stages: new Set([PENDING]), created: this.clock.now() });
    secret.rotationTokens.add(token);
    this.startRotation(secret, token, lambdaArn, 0);
    return { ARN: secret.arn, Name: secret.name, VersionId: token };
  }

  private startRotation(secret: Secret, token: string, lambdaArn: string, reattempt: number): void {
    secret.rotating = token;
    const run = this.runRotation(secret, token, lambdaArn, reattempt).finally(() => {
      secret.rotating = undefined;
      this.running.delete(run);
    });
    this.running.add(run);
  }

  /**
   * Re-attempts every failed rotation that is due by the clock, as Secrets Manager does by itself ("That
   * rotation will be reattempted"): the same version, all four steps again, while AWSPENDING is still on it.
   */
  runDue(): number {
    const now = this.clock.now().getTime();
    let started = 0;
    for (const [i, due] of [...this.reattempts.entries()].reverse()) {
      if (due.at > now) continue;
      this.reattempts.splice(i, 1);
      const secret = this.byArn.get(due.arn);
      const version = secret?.versions.get(due.token);
      if (!secret || secret.rotating || !version?.stages.has(PENDING) || version.stages.has(CURRENT))
        continue;
      this.startRotation(secret, due.token, due.lambdaArn, due.reattempt);
      started += 1;
    }
    return started;
  }

  /** Failed rotations Secrets Manager will re-attempt, and when. */
  pendingReattempts(): ReadonlyArray<{ secretName: string; versionId: string; at: Date }> {
    return this.reattempts.map((r) => ({
      secretName: this.byArn.get(r.arn)?.name ?? r.arn,
      versionId: r.token,
      at: new Date(r.at),
    }));
  }

  /** Invokes the four steps in order, as Secrets Manager does; a step that throws fails the rotation. */
  private async runRotation(
    secret: Secret,
    token: string,
    lambdaArn: string,
    reattempt: number,
  ): Promise<void> {
    // Let RotateSecret's response go out first, as the real service answers before rotating.
    await new Promise((resolve) => setImmediate(resolve));
    for (const step of STEPS) {
      const deliveries = this.takeRedelivery(step) ? 2 : 1;
      for (let i = 0; i < deliveries; i++) {
        try {
          await this.lambdas.invoke(lambdaArn, {
            Step: step,
            SecretId: secret.arn,
            ClientRequestToken: token,
            RotationToken: randomUUID(),
          });
        } catch (error) {
          this.outcomes.push({
            secretName: secret.name,
            versionId: token,
            ok: false,
            failedStep: step,
            error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
          });
          const delay = this.reattemptDelaysMs[reattempt];
          if (delay !== undefined)
            this.reattempts.push({
              arn: secret.arn,
              token,
              lambdaArn,
              reattempt: reattempt + 1,
              at: this.clock.now().getTime() + delay,
            });
          return;
        }
      }
    }
    secret.lastRotated = this.clock.now();
    this.outcomes.push({ secretName: secret.name, versionId: token, ok: true });
  }

  private takeRedelivery(step: RotationStep): boolean {
    const left = this.redeliveries.get(step) ?? 0;
    if (left <= 0) return false;
    this.redeliveries.set(step, left - 1);
    return true;
  }

  private cancelRotateSecret(input: Record<string, unknown>): unknown {
    const secret = this.find(str(input, 'SecretId'));
    secret.rotationEnabled = false;
    const pending = [...secret.versions.values()].find(
      (v) => v.stages.has(PENDING) && !v.stages.has(CURRENT),
    );
    return { ARN: secret.arn, Name: secret.name, ...(pending ? { VersionId: pending.id } : {}) };
  }

  private tagResource(input: Record<string, unknown>): unknown {
    const secret = this.find(str(input, 'SecretId'));
    const tags = tagList(input.Tags);
    const keys = new Set([...secret.tags.keys(), ...tags.map((t) => t.Key)]);
    if (keys.size > 50)
      throw new AwsServiceError(
        'ValidationException',
        `A secret can have at most 50 tags; this request would leave ${keys.size}.`,
      );
    for (const tag of tags) secret.tags.set(tag.Key, tag.Value);
    return {};
  }

  private untagResource(input: Record<string, unknown>): unknown {
    const secret = this.find(str(input, 'SecretId'));
    for (const key of Array.isArray(input.TagKeys) ? (input.TagKeys as string[]) : [])
      secret.tags.delete(key);
    return {};
  }

  private deleteSecret(input: Record<string, unknown>): unknown {
    const secret = this.find(str(input, 'SecretId'));
    this.secrets.delete(secret.name);
    for (const arn of [secret.arn, secret.arn.slice(0, -7)])
      if (this.byArn.get(arn) === secret) this.byArn.delete(arn);
    return { ARN: secret.arn, Name: secret.name, DeletionDate: epochSeconds(this.clock.now()) };
  }
}

function versionsToStages(secret: Secret): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const v of secret.versions.values()) if (v.stages.size > 0) out[v.id] = [...v.stages];
  return out;
}

function str(input: Record<string, unknown>, field: string): string {
  const value = input[field];
  if (typeof value !== 'string' || value.length === 0)
    throw new AwsServiceError('InvalidParameterException', `${field} is required.`);
  return value;
}

function optionalStr(input: Record<string, unknown>, field: string): string | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string')
    throw new AwsServiceError('InvalidParameterException', `${field} must be a string.`);
  return value;
}

function tagList(value: unknown): Array<{ Key: string; Value: string }> {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new AwsServiceError('InvalidParameterException', 'Tags must be a list.');
  return value.map((tag) => {
    const t = tag as { Key?: unknown; Value?: unknown };
    if (typeof t.Key !== 'string' || typeof t.Value !== 'string')
      throw new AwsServiceError('InvalidParameterException', 'Each tag needs a Key and a Value.');
    // Tag limits (Secrets Manager user guide, "Tag your secrets"): keys 1–128, values 0–256 characters,
    // the aws: prefix reserved.
    if (t.Key.length < 1 || t.Key.length > 128 || t.Key.toLowerCase().startsWith('aws:'))
      throw new AwsServiceError('ValidationException', `Invalid tag key ${t.Key.slice(0, 40)}.`);
    if (t.Value.length > 256)
      throw new AwsServiceError(
        'ValidationException',
        `The value of tag ${t.Key} is ${t.Value.length} characters; at most 256 are allowed.`,
      );
    return { Key: t.Key, Value: t.Value };
  });
}

function paginate<T>(items: T[], input: Record<string, unknown>, field: string): Record<string, unknown> {
  const max = typeof input.MaxResults === 'number' ? input.MaxResults : 100;
  const start = typeof input.NextToken === 'string' ? Number(input.NextToken) : 0;
  const page = items.slice(start, start + max);
  const next = start + max < items.length ? String(start + max) : undefined;
  return { [field]: page, ...(next ? { NextToken: next } : {}) };
}

/** ClientRequestToken, when given, is 32–64 characters (API reference, PutSecretValue / RotateSecret). */
function clientRequestToken(input: Record<string, unknown>): string | undefined {
  const token = optionalStr(input, 'ClientRequestToken');
  if (token !== undefined && (token.length < 32 || token.length > 64))
    throw new AwsServiceError(
      'ValidationException',
      "1 validation error detected: Value at 'clientRequestToken' failed to satisfy constraint: Member must have length between 32 and 64",
    );
  return token;
}
