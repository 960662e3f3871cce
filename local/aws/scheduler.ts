import type { Clock } from '../clock.js';
import type { LambdaRegistry } from './lambda.js';
import {
  type AwsRequest,
  type AwsResponse,
  type AwsService,
  AwsServiceError,
  epochSeconds,
  parseJsonBody,
} from './protocol.js';

const NAME = /^[0-9a-zA-Z-_.]{1,64}$/;
const AT = /^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$/;

interface Schedule {
  name: string;
  group: string;
  arn: string;
  expression: string;
  timezone: string;
  /** When an at() schedule is due (UTC). */
  dueAt: Date;
  state: 'ENABLED' | 'DISABLED';
  actionAfterCompletion: 'NONE' | 'DELETE';
  flexibleTimeWindow: { Mode: string; MaximumWindowInMinutes?: number };
  target: {
    Arn: string;
    RoleArn: string;
    Input?: string;
    RetryPolicy?: { MaximumEventAgeInSeconds?: number; MaximumRetryAttempts?: number };
    DeadLetterConfig?: { Arn?: string };
  };
  description?: string;
  created: Date;
  modified: Date;
  fired: boolean;
}

/** A delivery that exhausted its retries and went to the schedule's dead-letter queue. */
export interface DeadLetter {
  schedule: string;
  group: string;
  queueArn: string | undefined;
  input: string | undefined;
  error: string;
}

/**
 * EventBridge Scheduler over its real wire protocol (REST-JSON), for one-shot `at()` schedules targeting
 * in-process Lambda functions. Due schedules fire when `runDue()` is called (tests step a manual clock; the
 * rehearsal calls it on a timer). Delivery is at-least-once: `deliverTwice()` makes the next firing
 * deliver its event twice, as Scheduler may. Rate/cron schedules and non-Lambda targets are out of scope.
 */
export class SchedulerService implements AwsService {
  readonly signingNames = ['scheduler'] as const;
  private readonly groups = new Map<string, Date>([['default', new Date(0)]]);
  private readonly schedules = new Map<string, Schedule>();
  private duplicates = 0;
  readonly deadLetters: DeadLetter[] = [];
  /** Every delivery made, in order, for assertions. */
  readonly deliveries: Array<{ schedule: string; input: string | undefined; ok: boolean }> = [];

  constructor(
    private readonly clock: Clock,
    private readonly lambdas: LambdaRegistry,
    private readonly region: string,
    private readonly accountId: string,
  ) {}

  deliverTwice(times = 1): void {
    this.duplicates += times;
  }

  /** Schedules present now, for tests and the rehearsal's report. */
  list(group?: string): Array<{ name: string; group: string; dueAt: Date; input: string | undefined }> {
    return [...this.schedules.values()]
      .filter((s) => !group || s.group === group)
      .map((s) => ({ name: s.name, group: s.group, dueAt: s.dueAt, input: s.target.Input }));
  }

  /** Fires every enabled schedule that is due by the clock; resolves when their targets have run. */
  async runDue(): Promise<number> {
    const now = this.clock.now().getTime();
    const due = [...this.schedules.values()].filter(
      (s) => s.state === 'ENABLED' && !s.fired && s.dueAt.getTime() <= now,
    );
    // Claim them all before the first await, so overlapping calls never fire one schedule twice.
    for (const schedule of due) schedule.fired = true;
    for (const schedule of due) {
      const deliveries = this.duplicates > 0 ? 2 : 1;
      if (deliveries === 2) this.duplicates -= 1;
      for (let i = 0; i < deliveries; i++) await this.deliver(schedule);
      if (schedule.actionAfterCompletion === 'DELETE')
        this.schedules.delete(key(schedule.group, schedule.name));
    }
    return due.length;
  }

  /**
   * Hands the event to Lambda, which invokes the function asynchronously: the retry policy and the
   * dead-letter queue cover only a hand-over Lambda refuses (no such function, throttled), never an error
   * the function throws — that is Lambda's asynchronous retry and on-failure destination to handle.
   */
  private async deliver(schedule: Schedule): Promise<void> {
    const attempts = 1 + (schedule.target.RetryPolicy?.MaximumRetryAttempts ?? 185);
    let lastError = '';
    for (let attempt = 0; attempt < attempts; attempt++) {
      try {
        const input =
          schedule.target.Input === undefined ? {} : (JSON.parse(schedule.target.Input) as unknown);
        await this.lambdas.invokeAsync(schedule.target.Arn, input);
        this.deliveries.push({ schedule: schedule.name, input: schedule.target.Input, ok: true });
        return;
      } catch (error) {
        lastError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        this.deliveries.push({ schedule: schedule.name, input: schedule.target.Input, ok: false });
      }
    }
    this.deadLetters.push({
      schedule: schedule.name,
      group: schedule.group,
      queueArn: schedule.target.DeadLetterConfig?.Arn,
      input: schedule.target.Input,
      error: lastError,
    });
  }

  async handle(request: AwsRequest): Promise<AwsResponse> {
    try {
      return ok(this.route(request));
    } catch (error) {
      return this.errorResponse(
        error instanceof AwsServiceError
          ? error
          : new AwsServiceError(
              'InternalServerException',
              error instanceof Error ? error.message : 'internal error',
              500,
            ),
      );
    }
  }

  /** An error as Scheduler's REST-JSON protocol sends it: the type in a header, `{Message}` in the body. */
  errorResponse(e: AwsServiceError): AwsResponse {
    return {
      status: e.status,
      headers: { 'content-type': 'application/json', 'x-amzn-errortype': e.type },
      body: JSON.stringify({ Message: e.message }),
    };
  }

  private route(req: AwsRequest): unknown {
    const schedule = /^\/schedules\/([^/]+)$/.exec(req.path);
    const group = /^\/schedule-groups\/([^/]+)$/.exec(req.path);
    if (schedule) {
      const name = decodeURIComponent(schedule[1]!);
      if (req.method === 'POST') return this.createSchedule(name, parseJsonBody(req.body));
      const groupName = req.query.get('groupName') ?? 'default';
      if (req.method === 'GET') return this.describe(this.find(groupName, name));
      if (req.method === 'DELETE') {
        this.find(groupName, name);
        this.schedules.delete(key(groupName, name));
        return {};
      }
    }
    if (req.path === '/schedules' && req.method === 'GET') return this.listSchedules(req.query);
    if (group) {
      const name = decodeURIComponent(group[1]!);
      if (req.method === 'POST') {
        if (this.groups.has(name))
          throw new AwsServiceError('ConflictException', `Schedule group ${name} already exists.`, 409);
        this.groups.set(name, this.clock.now());
        return { ScheduleGroupArn: this.groupArn(name) };
      }
      if (req.method === 'GET') {
        const created = this.groups.get(name);
        if (!created)
          throw new AwsServiceError(
            'ResourceNotFoundException',
            `Schedule group ${name} does not exist.`,
            404,
          );
        return {
          Arn: this.groupArn(name),
          Name: name,
          State: 'ACTIVE',
          CreationDate: epochSeconds(created),
          LastModificationDate: epochSeconds(created),
        };
      }
      if (req.method === 'DELETE') {
        if (!this.groups.delete(name))
          throw new AwsServiceError(
            'ResourceNotFoundException',
            `Schedule group ${name} does not exist.`,
            404,
          );
        for (const s of [...this.schedules.values()])
          if (s.group === name) this.schedules.delete(key(s.group, s.name));
        return {};
      }
    }
    if (req.path === '/schedule-groups' && req.method === 'GET') {
      return {
        ScheduleGroups: [...this.groups.keys()].map((name) => ({
          Arn: this.groupArn(name),
          Name: name,
          State: 'ACTIVE',
        })),
      };
    }
    throw new AwsServiceError(
      'ValidationException',
      `The loopback endpoint does not implement ${req.method} ${req.path}.`,
      400,
    );
  }

  private createSchedule(name: string, input: Record<string, unknown>): unknown {
    if (!NAME.test(name))
      throw new AwsServiceError(
        'ValidationException',
        `Schedule name ${name} must match [0-9a-zA-Z-_.]{1,64}.`,
        400,
      );
    const group = typeof input.GroupName === 'string' ? input.GroupName : 'default';
    if (!this.groups.has(group))
      throw new AwsServiceError('ResourceNotFoundException', `Schedule group ${group} does not exist.`, 404);
    if (this.schedules.has(key(group, name)))
      throw new AwsServiceError('ConflictException', `Schedule ${name} already exists.`, 409);
    const expression = String(input.ScheduleExpression ?? '');
    const at = AT.exec(expression);
    if (!at)
      throw new AwsServiceError(
        'ValidationException',
        `Invalid Schedule Expression ${expression}; the loopback endpoint supports at(yyyy-mm-ddThh:mm:ss).`,
        400,
      );
    const timezone =
      typeof input.ScheduleExpressionTimezone === 'string' ? input.ScheduleExpressionTimezone : 'UTC';
    if (!isTimeZone(timezone))
      throw new AwsServiceError(
        'ValidationException',
        `Invalid ScheduleExpressionTimezone ${timezone}.`,
        400,
      );
    const window = input.FlexibleTimeWindow as Schedule['flexibleTimeWindow'] | undefined;
    if (!window || (window.Mode !== 'OFF' && window.Mode !== 'FLEXIBLE'))
      throw new AwsServiceError(
        'ValidationException',
        'FlexibleTimeWindow with Mode OFF or FLEXIBLE is required.',
        400,
      );
    const target = input.Target as Schedule['target'] | undefined;
    if (!target || typeof target.Arn !== 'string' || typeof target.RoleArn !== 'string') {
      throw new AwsServiceError('ValidationException', 'Target with Arn and RoleArn is required.', 400);
    }
    validateTarget(target);
    if (typeof input.Description === 'string' && input.Description.length > 512)
      throw new AwsServiceError(
        'ValidationException',
        "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 512",
        400,
      );
    const now = this.clock.now();
    const schedule: Schedule = {
      name,
      group,
      arn: `arn:aws:scheduler:${this.region}:${this.accountId}:schedule/${group}/${name}`,
      expression,
      timezone,
      dueAt: zonedTime(at[1]!, timezone),
      state: input.State === 'DISABLED' ? 'DISABLED' : 'ENABLED',
      actionAfterCompletion: input.ActionAfterCompletion === 'DELETE' ? 'DELETE' : 'NONE',
      flexibleTimeWindow: window,
      target,
      ...(typeof input.Description === 'string' ? { description: input.Description } : {}),
      created: now,
      modified: now,
      fired: false,
    };
    this.schedules.set(key(group, name), schedule);
    return { ScheduleArn: schedule.arn };
  }

  private find(group: string, name: string): Schedule {
    const schedule = this.schedules.get(key(group, name));
    if (!schedule)
      throw new AwsServiceError('ResourceNotFoundException', `Schedule ${name} does not exist.`, 404);
    return schedule;
  }

  private describe(s: Schedule): unknown {
    return {
      Arn: s.arn,
      Name: s.name,
      GroupName: s.group,
      ScheduleExpression: s.expression,
      ScheduleExpressionTimezone: s.timezone,
      State: s.state,
      ActionAfterCompletion: s.actionAfterCompletion,
      FlexibleTimeWindow: s.flexibleTimeWindow,
      Target: s.target,
      ...(s.description ? { Description: s.description } : {}),
      CreationDate: epochSeconds(s.created),
      LastModificationDate: epochSeconds(s.modified),
    };
  }

  private listSchedules(query: URLSearchParams): unknown {
    const group = query.get('ScheduleGroup');
    const prefix = query.get('NamePrefix') ?? '';
    const state = query.get('State');
    const items = [...this.schedules.values()]
      .filter(
        (s) => (!group || s.group === group) && s.name.startsWith(prefix) && (!state || s.state === state),
      )
      .map((s) => ({
        Arn: s.arn,
        Name: s.name,
        GroupName: s.group,
        State: s.state,
        Target: { Arn: s.target.Arn },
        CreationDate: epochSeconds(s.created),
        LastModificationDate: epochSeconds(s.modified),
      }));
    const max = Number(query.get('MaxResults') ?? 100);
    const start = Number(query.get('NextToken') ?? 0);
    const next = start + max < items.length ? String(start + max) : undefined;
    return { Schedules: items.slice(start, start + max), ...(next ? { NextToken: next } : {}) };
  }

  private groupArn(name: string): string {
    return `arn:aws:scheduler:${this.region}:${this.accountId}:schedule-group/${name}`;
  }
}

const key = (group: string, name: string): string => `${group}/${name}`;

function ok(body: unknown): AwsResponse {
  return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

const ROLE_ARN = /^arn:aws(-[a-z]+)?:iam::\d{12}:role\/[\w+=,.@/-]+$/;

/** CreateSchedule's documented Target constraints that rekey's input could break. */
function validateTarget(target: Schedule['target']): void {
  const fail = (message: string) => {
    throw new AwsServiceError('ValidationException', message, 400);
  };
  if (!ROLE_ARN.test(target.RoleArn)) fail(`Target.RoleArn ${target.RoleArn} is not a valid IAM role ARN.`);
  if (target.Arn.length < 1 || target.Arn.length > 1600) fail('Target.Arn must be 1–1600 characters.');
  if (target.Input !== undefined && (target.Input.length < 1 || target.Input.length > 8192))
    fail('Target.Input must be 1–8192 characters.');
  const retry = target.RetryPolicy;
  if (
    retry?.MaximumRetryAttempts !== undefined &&
    !(retry.MaximumRetryAttempts >= 0 && retry.MaximumRetryAttempts <= 185)
  )
    fail('RetryPolicy.MaximumRetryAttempts must be 0–185.');
  if (
    retry?.MaximumEventAgeInSeconds !== undefined &&
    !(retry.MaximumEventAgeInSeconds >= 60 && retry.MaximumEventAgeInSeconds <= 86_400)
  )
    fail('RetryPolicy.MaximumEventAgeInSeconds must be 60–86400.');
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** The instant a wall-clock time `yyyy-mm-ddThh:mm:ss` names in `zone` (at() is read in the schedule's zone). */
function zonedTime(wall: string, zone: string): Date {
  const asUtc = new Date(`${wall}Z`).getTime();
  const offset = (instant: number): number => {
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
      })
        .formatToParts(new Date(instant))
        .map((p) => [p.type, p.value]),
    );
    const local = Date.UTC(
      +parts.year!,
      +parts.month! - 1,
      +parts.day!,
      +parts.hour!,
      +parts.minute!,
      +parts.second!,
    );
    return local - instant;
  };
  return new Date(asUtc - offset(asUtc - offset(asUtc)));
}
