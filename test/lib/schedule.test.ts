import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  rateFromFrequency,
  rotationWindow,
  ScheduleError,
  scheduleFromExpression,
} from '../../lib/schedule.js';

describe('rotation_frequency → rate()', () => {
  it('converts days, weeks and hours to the rate() units Secrets Manager accepts', () => {
    assert.equal(rateFromFrequency('30d').expression, 'rate(30 days)');
    assert.equal(rateFromFrequency('7d').expression, 'rate(7 days)');
    assert.equal(rateFromFrequency('1d').expression, 'rate(1 day)');
    assert.equal(rateFromFrequency('1w').expression, 'rate(7 days)');
    assert.equal(rateFromFrequency('12h').expression, 'rate(12 hours)');
    assert.equal(rateFromFrequency('4h').expression, 'rate(4 hours)');
    assert.equal(rateFromFrequency('48h').expression, 'rate(2 days)');
    assert.equal(rateFromFrequency('1000d').expression, 'rate(1000 days)');
  });

  it('refuses intervals under 4 hours, over 1000 days, and hours that are not whole days above 23', () => {
    assert.throws(() => rateFromFrequency('3h'), /at most every 4 hours/);
    assert.throws(() => rateFromFrequency('90m'), /at most every 4 hours/);
    assert.throws(() => rateFromFrequency('1001d'), /1000 days/);
    assert.throws(() => rateFromFrequency('36h'), /rate\(4\.\.23 hours\) or rate\(N days\)/);
    assert.throws(() => rateFromFrequency('monthly'), ScheduleError);
    assert.throws(() => rateFromFrequency('30 days'), /not a duration/);
  });
});

describe('schedule → AWS cron()', () => {
  it("converts the guide's three schedules, putting ? in the unrestricted day field", () => {
    assert.equal(scheduleFromExpression('0 2 1 * *').expression, 'cron(0 2 1 * ? *)');
    assert.equal(scheduleFromExpression('0 3 * * 0').expression, 'cron(0 3 ? * SUN *)');
    assert.equal(scheduleFromExpression('0 2 1 */3 *').expression, 'cron(0 2 1 */3 ? *)');
  });

  it('renumbers Unix day-of-week (0–7, Sunday = 0 or 7) to AWS names', () => {
    assert.equal(scheduleFromExpression('0 2 * * 1-5').expression, 'cron(0 2 ? * MON-FRI *)');
    assert.equal(scheduleFromExpression('0 2 * * 7').expression, 'cron(0 2 ? * SUN *)');
    assert.equal(scheduleFromExpression('0 2 * * 1,3,5').expression, 'cron(0 2 ? * MON,WED,FRI *)');
    assert.equal(scheduleFromExpression('0 2 * * 5-7').expression, 'cron(0 2 ? * FRI-SAT,SUN *)');
    assert.equal(scheduleFromExpression('0 2 * * sat').expression, 'cron(0 2 ? * SAT *)');
  });

  it('puts ? in day-of-week when both day fields are *', () => {
    assert.equal(scheduleFromExpression('0 4 * * *').expression, 'cron(0 4 * * ? *)');
  });

  it('accepts AWS expressions as written and checks them too', () => {
    assert.equal(scheduleFromExpression('cron(0 4/12 * * ? *)').expression, 'cron(0 4/12 * * ? *)');
    assert.deepEqual(scheduleFromExpression('cron(0 4/12 * * ? *)').startHours, [4, 16]);
    assert.equal(scheduleFromExpression('rate(10 days)').expression, 'rate(10 days)');
    assert.equal(scheduleFromExpression('rate(6 hours)').expression, 'rate(6 hours)');
    assert.throws(
      () => scheduleFromExpression('cron(0 4 * * * *)'),
      /exactly one of day-of-month and day-of-week/,
    );
    assert.throws(() => scheduleFromExpression('cron(0 4 * * ? 2027)'), /year must be \*/);
    assert.throws(() => scheduleFromExpression('rate(2 hours)'), /at most every 4 hours/);
    assert.throws(() => scheduleFromExpression('rate(1 week)'), /rate\(N hours\) or rate\(N days\)/);
  });

  it('refuses what AWS refuses, saying why', () => {
    assert.throws(() => scheduleFromExpression('30 2 * * *'), /minutes must be 0/);
    assert.throws(
      () => scheduleFromExpression('0 * * * *'),
      /every 1 hours; Secrets Manager rotates at most every 4 hours/,
    );
    assert.throws(() => scheduleFromExpression('0 */2 * * *'), /at most every 4 hours/);
    assert.throws(() => scheduleFromExpression('0 0,22 * * *'), /every 2 hours/);
    assert.throws(() => scheduleFromExpression('0 2 1 * 1'), /both day-of-month and day-of-week/);
    assert.throws(() => scheduleFromExpression('0 2 * *'), /has 4 fields/);
    assert.throws(() => scheduleFromExpression('0 25 * * *'), /within 0–23/);
    assert.throws(() => scheduleFromExpression('0 2 * * 8'), /day-of-week "8" must be 0–7/);
  });
});

describe('rotation window (Duration)', () => {
  it('accepts a window that ends by midnight UTC and before the next window', () => {
    assert.equal(rotationWindow('2h', scheduleFromExpression('0 2 1 * *')), '2h');
    assert.equal(rotationWindow('22h', scheduleFromExpression('0 2 1 * *')), '22h');
    assert.equal(rotationWindow('24h', rateFromFrequency('30d')), '24h');
    assert.equal(rotationWindow('6h', rateFromFrequency('6h')), '6h');
  });

  it('refuses a window that runs into the next UTC day', () => {
    assert.throws(
      () => rotationWindow('3h', scheduleFromExpression('0 22 * * *')),
      /runs into the next UTC day; use 2h or less/,
    );
  });

  it('refuses a window longer than the time between windows', () => {
    assert.throws(() => rotationWindow('8h', rateFromFrequency('6h')), /longer than the 6h between windows/);
    assert.throws(
      () => rotationWindow('9h', scheduleFromExpression('cron(0 2,10 * * ? *)')),
      /longer than the 8h between/,
    );
  });

  it('refuses windows that are not whole hours from 1h to 24h', () => {
    assert.throws(() => rotationWindow('90m', rateFromFrequency('30d')), /whole hours from 1h to 24h/);
    assert.throws(() => rotationWindow('2d', rateFromFrequency('30d')), /whole hours from 1h to 24h/);
    assert.throws(() => rotationWindow('0h', rateFromFrequency('30d')), /whole hours from 1h to 24h/);
  });
});
