/**
 * When Secrets Manager's next rotation window closes — DescribeSecret's `NextRotationDate`, "the next
 * rotation is scheduled to occur on or before this date" — from the secret's RotationRules, as the user
 * guide's "Schedule expressions in Secrets Manager rotation" describes them:
 * - windows start on the hour, in UTC; `rate(N days)` (and `AutomaticallyAfterDays`) counts from the last
 *   rotation (or from when rotation was turned on) and opens at midnight; `rate(N hours)` opens on the hour;
 * - `cron(0 Hours Day-of-month Month Day-of-week *)` opens when it matches;
 * - without `Duration`, a window closes after one hour for a schedule in hours, at the end of the UTC day
 *   for a schedule in days.
 * Cron's `L`, `W` and `#` are not modelled: the answer is then undefined (the field is left out).
 */
export interface RotationRules {
  ScheduleExpression?: string;
  Duration?: string;
  AutomaticallyAfterDays?: number;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

export function nextRotationDate(rules: RotationRules | undefined, now: Date, since: Date): Date | undefined {
  if (!rules) return undefined;
  const duration = hoursOf(rules.Duration);
  const expression = rules.ScheduleExpression?.trim();
  const days = expression === undefined ? rules.AutomaticallyAfterDays : undefined;
  if (days !== undefined) return byRate(days * DAY, 'days', since, duration);
  if (!expression) return undefined;
  const rate = /^rate\((\d+) (hours?|days?)\)$/.exec(expression);
  if (rate) {
    const unit = rate[2]!.startsWith('hour') ? 'hours' : 'days';
    return byRate(Number(rate[1]) * (unit === 'hours' ? HOUR : DAY), unit, since, duration);
  }
  const cron = /^cron\((.*)\)$/.exec(expression);
  return cron ? byCron(cron[1]!.trim().split(/\s+/), now, duration) : undefined;
}

function hoursOf(duration: string | undefined): number | undefined {
  const match = duration === undefined ? null : /^(\d+)h$/.exec(duration);
  return match ? Number(match[1]) : undefined;
}

function closes(opens: number, unit: 'hours' | 'days', duration: number | undefined): Date {
  if (duration !== undefined) return new Date(opens + duration * HOUR);
  return new Date(unit === 'hours' ? opens + HOUR : Math.floor(opens / DAY) * DAY + DAY);
}

function byRate(interval: number, unit: 'hours' | 'days', since: Date, duration: number | undefined): Date {
  const due = since.getTime() + interval;
  const opens = unit === 'days' ? Math.floor(due / DAY) * DAY : Math.floor(due / HOUR) * HOUR;
  return closes(opens, unit, duration);
}

function byCron(fields: string[], now: Date, duration: number | undefined): Date | undefined {
  if (fields.length !== 6 || fields.some((f) => /[LW#]/.test(f))) return undefined;
  const [minutes, hours, dom, month, dow] = fields as [string, string, string, string, string];
  const hourSet = values(hours, 0, 23);
  const domSet = dom === '?' ? undefined : values(dom, 1, 31);
  const monthSet = values(month, 1, 12, MONTHS);
  const dowSet = dow === '?' ? undefined : values(dow, 1, 7, WEEKDAYS);
  if (minutes !== '0' || !hourSet || !monthSet || (dom !== '?' && !domSet) || (dow !== '?' && !dowSet))
    return undefined;
  const unit = hourSet.size > 1 ? 'hours' : 'days';
  // From the start of yesterday, so a window open now (it opened earlier) is the one found.
  const start = Math.floor(now.getTime() / DAY) * DAY - DAY;
  for (let t = start; t < start + 367 * DAY; t += HOUR) {
    const at = new Date(t);
    if (!hourSet.has(at.getUTCHours()) || !monthSet.has(at.getUTCMonth() + 1)) continue;
    if (domSet && !domSet.has(at.getUTCDate())) continue;
    if (dowSet && !dowSet.has(at.getUTCDay() + 1)) continue;
    const close = closes(t, unit, duration);
    if (close.getTime() > now.getTime()) return close;
  }
  return undefined;
}

/** A cron field's values: `*`, `?`, `a`, `a-b`, `a/s`, `*\/s`, `a-b/s`, lists of those; names where given. */
function values(field: string, min: number, max: number, names: string[] = []): Set<number> | undefined {
  const out = new Set<number>();
  const number = (text: string): number | undefined => {
    const named = names.indexOf(text.toUpperCase());
    const n = named >= 0 ? named + 1 : Number(text);
    return Number.isInteger(n) && n >= min && n <= max ? n : undefined;
  };
  for (const part of field.split(',')) {
    const [range, stepText] = part.split('/') as [string, string | undefined];
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) return undefined;
    let from: number | undefined;
    let to: number | undefined;
    if (range === '*' || range === '?') [from, to] = [min, max];
    else if (range.includes('-')) {
      const [a, b] = range.split('-') as [string, string];
      [from, to] = [number(a), number(b)];
    } else {
      from = number(range);
      to = stepText === undefined ? from : max;
    }
    if (from === undefined || to === undefined || from > to) return undefined;
    for (let n = from; n <= to; n += step) out.add(n);
  }
  return out;
}
