import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nextRotationDate } from '../../local/aws/rotation-window.js';

const at = (iso: string) => new Date(iso);
const next = (rules: Parameters<typeof nextRotationDate>[0], now: string, since = now) =>
  nextRotationDate(rules, at(now), at(since))?.toISOString();

describe('loopback Secrets Manager: NextRotationDate, the close of the next rotation window', () => {
  const now = '2026-12-02T01:50:00.000Z'; // a Wednesday

  it('a cron in days opens when it matches and closes at the end of that UTC day', () => {
    // Quarterly on the 1st at 02:00 (the example inventory): months 1, 4, 7, 10.
    assert.equal(next({ ScheduleExpression: 'cron(0 2 1 */3 ? *)' }, now), '2027-01-02T00:00:00.000Z');
    // Weekly on Sunday at 03:00 (day-of-week 1 = SUN).
    assert.equal(next({ ScheduleExpression: 'cron(0 3 ? * SUN *)' }, now), '2026-12-07T00:00:00.000Z');
    assert.equal(next({ ScheduleExpression: 'cron(0 3 ? * 1 *)' }, now), '2026-12-07T00:00:00.000Z');
  });

  it('a Duration closes the window that many hours after it opens', () => {
    assert.equal(
      next({ ScheduleExpression: 'cron(0 3 ? * SUN *)', Duration: '2h' }, now),
      '2026-12-06T05:00:00.000Z',
    );
  });

  it('a cron in hours closes after one hour by default', () => {
    assert.equal(next({ ScheduleExpression: 'cron(0 4/12 * * ? *)' }, now), '2026-12-02T05:00:00.000Z');
  });

  it('a window open now is the next one (rotation happens on or before its close)', () => {
    assert.equal(
      next({ ScheduleExpression: 'cron(0 0 * * ? *)' }, '2026-12-02T10:00:00.000Z'),
      '2026-12-03T00:00:00.000Z',
    );
  });

  it('a rate counts from the last rotation; in days it opens at midnight', () => {
    assert.equal(
      next({ ScheduleExpression: 'rate(30 days)' }, now, '2026-11-01T10:00:00.000Z'),
      '2026-12-02T00:00:00.000Z',
    );
    assert.equal(
      next({ AutomaticallyAfterDays: 7 }, now, '2026-12-01T10:00:00.000Z'),
      '2026-12-09T00:00:00.000Z',
    );
    assert.equal(
      next({ ScheduleExpression: 'rate(6 hours)' }, now, '2026-12-02T01:30:00.000Z'),
      '2026-12-02T08:00:00.000Z',
    );
  });

  it('what it does not model (L, W, #) and malformed rules give no date rather than a wrong one', () => {
    assert.equal(next({ ScheduleExpression: 'cron(0 2 L * ? *)' }, now), undefined);
    assert.equal(next({ ScheduleExpression: 'cron(0 2 ? * 2#1 *)' }, now), undefined);
    assert.equal(next({ ScheduleExpression: 'cron(0 25 * * ? *)' }, now), undefined);
    assert.equal(next(undefined, now), undefined);
  });
});
