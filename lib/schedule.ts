import { formatDuration, parseDurationSeconds } from '../lambdas/duration.js';

/**
 * Secrets Manager rotation rules from the inventory's words, checked against AWS's documented rules
 * (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_schedule.html):
 * - `rate(N hours|days)`: at least 4 hours, at most 1000 days; hours between 4 and 23, whole days above;
 * - `cron(Minutes Hours Day-of-month Month Day-of-week Year)`: minutes 0 (windows open on the hour),
 *   year `*`, exactly one of day-of-month/day-of-week `?`, day-of-week 1–7 or SUN–SAT;
 * - the window (`Duration`, "1h".."24h") must not run into the next UTC day nor the next window.
 * Every function throws a `ScheduleError` whose message says what AWS refuses and how to fix it.
 */
export class ScheduleError extends Error {
  override readonly name = 'ScheduleError';
}

const HOUR = 3600;
const DAY = 86_400;
const MIN_INTERVAL = 4 * HOUR;
const MAX_INTERVAL = 1000 * DAY;

/** A Secrets Manager schedule expression plus what the window checks need to know about it. */
export interface RotationSchedule {
  /** `rate(...)` or `cron(...)`, as CloudFormation's `RotationRules.ScheduleExpression` takes it. */
  expression: string;
  /** Hours of the UTC day at which a window opens (a rate's windows start at midnight). */
  startHours: number[];
  /** Shortest time between two windows, in seconds. */
  minIntervalSeconds: number;
}

/** "30d" → `rate(30 days)`, "12h" → `rate(12 hours)`, "1w" → `rate(7 days)`. */
export function rateFromFrequency(frequency: string): RotationSchedule {
  const seconds = parseDurationSeconds(frequency);
  if (seconds === undefined) {
    throw new ScheduleError(
      `"${frequency}" is not a duration; write a whole number and a unit, e.g. 30d, 7d, 12h`,
    );
  }
  if (seconds < MIN_INTERVAL) {
    throw new ScheduleError(
      `${frequency} is more often than Secrets Manager allows (at most every 4 hours); use 4h or longer`,
    );
  }
  if (seconds > MAX_INTERVAL) {
    throw new ScheduleError(
      `${frequency} is longer than Secrets Manager allows (1000 days); use 1000d or less`,
    );
  }
  if (seconds % DAY === 0) {
    const days = seconds / DAY;
    return {
      expression: `rate(${days} ${days === 1 ? 'day' : 'days'})`,
      startHours: [0],
      minIntervalSeconds: seconds,
    };
  }
  if (seconds % HOUR === 0 && seconds < DAY) {
    const hours = seconds / HOUR;
    return { expression: `rate(${hours} hours)`, startHours: [0], minIntervalSeconds: seconds };
  }
  throw new ScheduleError(
    `${frequency} is neither whole hours under a day nor whole days; Secrets Manager rates are rate(4..23 hours) or rate(N days)`,
  );
}

const DOW_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] as const;

/**
 * A schedule as the guide writes it — a 5-field Unix cron (`0 2 1 *\/3 *`) — or already in AWS's form
 * (`cron(0 2 1 *\/3 ? *)`, `rate(30 days)`), converted and checked.
 */
export function scheduleFromExpression(text: string): RotationSchedule {
  const trimmed = text.trim();
  const rate = /^rate\((\d+) (hour|hours|day|days)\)$/.exec(trimmed);
  if (rate) return rateFromFrequency(`${rate[1]}${rate[2]!.startsWith('hour') ? 'h' : 'd'}`);
  if (trimmed.startsWith('rate(')) {
    throw new ScheduleError(
      `"${trimmed}" is not a Secrets Manager rate; write rate(N hours) or rate(N days)`,
    );
  }
  const aws = /^cron\((.*)\)$/.exec(trimmed);
  if (aws) return checkAwsCron(aws[1]!.trim().split(/\s+/));
  const fields = trimmed.split(/\s+/);
  if (fields.length !== 5) {
    throw new ScheduleError(
      `"${trimmed}" has ${fields.length} fields; write a 5-field cron (minute hour day-of-month month day-of-week), cron(...) or rate(...)`,
    );
  }
  const [minute, hour, dom, month, dow] = fields as [string, string, string, string, string];
  const domAny = dom === '*';
  const dowAny = dow === '*';
  if (!domAny && !dowAny) {
    throw new ScheduleError(
      `"${trimmed}" restricts both day-of-month and day-of-week, which Unix cron ORs and AWS cannot express; keep one of them "*"`,
    );
  }
  return checkAwsCron([
    minute,
    hour,
    dowAny ? dom : '?',
    month,
    dowAny ? '?' : awsDayOfWeek(dow, trimmed),
    '*',
  ]);
}

/** Unix day-of-week (0–7, 0 and 7 = Sunday) → AWS names (SUN–SAT), so no renumbering is left to the reader. */
function awsDayOfWeek(field: string, whole: string): string {
  return field
    .split(',')
    .map((part) => {
      const [range, step] = part.split('/') as [string, string | undefined];
      const ends = range.split('-');
      if (range === '*' || ends.every((e) => /^[A-Za-z]{3}$/.test(e))) return part.toUpperCase();
      const numbers = ends.map(Number);
      if (numbers.some((n) => !Number.isInteger(n) || n < 0 || n > 7) || ends.length > 2) {
        throw new ScheduleError(`"${whole}": day-of-week "${part}" must be 0–7 or SUN–SAT`);
      }
      const suffix = step === undefined ? '' : `/${step}`;
      if (numbers.length === 2 && numbers[1] === 7) {
        // 7 is Sunday again; AWS ranges do not wrap, so end at Saturday and add Sunday.
        return numbers[0] === 0 || numbers[0] === 7
          ? `*${suffix}`
          : `${DOW_NAMES[numbers[0]!]}-SAT${suffix},SUN`;
      }
      return numbers.map((n) => DOW_NAMES[n % 7]).join('-') + suffix;
    })
    .join(',');
}

function checkAwsCron(fields: string[]): RotationSchedule {
  const expression = `cron(${fields.join(' ')})`;
  if (fields.length !== 6) {
    throw new ScheduleError(
      `${expression} has ${fields.length} fields; AWS cron has 6 (minutes hours day-of-month month day-of-week year)`,
    );
  }
  const [minute, hour, dom, month, dow, year] = fields as [string, string, string, string, string, string];
  if (minute !== '0') {
    throw new ScheduleError(
      `${expression}: minutes must be 0 — Secrets Manager rotation windows open on the hour`,
    );
  }
  if (year !== '*') {
    throw new ScheduleError(
      `${expression}: year must be * — Secrets Manager schedules repeat at least yearly`,
    );
  }
  if ((dom === '?') === (dow === '?')) {
    throw new ScheduleError(`${expression}: exactly one of day-of-month and day-of-week must be "?"`);
  }
  if (!/^[\d*/,LW?-]+$/.test(dom)) throw new ScheduleError(`${expression}: day-of-month "${dom}" is invalid`);
  if (!/^[\dA-Za-z*/,-]+$/.test(month)) throw new ScheduleError(`${expression}: month "${month}" is invalid`);
  if (!/^[\dA-Za-z*/,#L?-]+$/.test(dow))
    throw new ScheduleError(`${expression}: day-of-week "${dow}" is invalid`);
  const startHours = expandHours(hour, expression);
  const gaps = startHours.slice(1).map((h, i) => (h - startHours[i]!) * HOUR);
  const daily = (dom === '*' || dom === '?') && (dow === '*' || dow === '?');
  if (daily) gaps.push((24 - startHours.at(-1)! + startHours[0]!) * HOUR);
  const minIntervalSeconds = gaps.length ? Math.min(...gaps) : DAY;
  if (minIntervalSeconds < MIN_INTERVAL) {
    throw new ScheduleError(
      `${expression} opens a window every ${minIntervalSeconds / HOUR} hours; Secrets Manager rotates at most every 4 hours`,
    );
  }
  return { expression, startHours, minIntervalSeconds };
}

/** The hours field (`2`, `*`, `4/12`, `0-12/6`, `1,13`) as sorted hours of the day. */
function expandHours(field: string, expression: string): number[] {
  const hours = new Set<number>();
  for (const part of field.split(',')) {
    const match = /^(\*|\d{1,2})(?:-(\d{1,2}))?(?:\/(\d{1,2}))?$/.exec(part);
    if (!match)
      throw new ScheduleError(`${expression}: hours "${part}" must be 0–23, a range, a list or a step`);
    const from = match[1] === '*' ? 0 : Number(match[1]);
    const to = match[2] !== undefined ? Number(match[2]) : match[1] === '*' || match[3] ? 23 : from;
    const step = match[3] !== undefined ? Number(match[3]) : 1;
    if (from > 23 || to > 23 || from > to || step < 1) {
      throw new ScheduleError(`${expression}: hours "${part}" must stay within 0–23`);
    }
    for (let h = from; h <= to; h += step) hours.add(h);
  }
  return [...hours].sort((a, b) => a - b);
}

/**
 * Checks a rotation window (`Duration`) against the schedule: 1–24 whole hours, not past the end of the
 * UTC day from the latest window start, not into the next window. Returns it in AWS's form ("3h").
 */
export function rotationWindow(duration: string, schedule: RotationSchedule): string {
  const seconds = parseDurationSeconds(duration);
  if (seconds === undefined || seconds % HOUR !== 0 || seconds < HOUR || seconds > DAY) {
    throw new ScheduleError(`"${duration}" is not a rotation window; write whole hours from 1h to 24h`);
  }
  const hours = seconds / HOUR;
  const lastStart = Math.max(...schedule.startHours);
  if (lastStart + hours > 24) {
    throw new ScheduleError(
      `a ${hours}h window opening at ${lastStart}:00 UTC runs into the next UTC day; use ${24 - lastStart}h or less`,
    );
  }
  if (seconds > schedule.minIntervalSeconds) {
    throw new ScheduleError(
      `a ${hours}h window is longer than the ${formatDuration(schedule.minIntervalSeconds)} between windows of ${schedule.expression}; shorten it`,
    );
  }
  return `${hours}h`;
}
