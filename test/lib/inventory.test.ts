import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PROVIDERS } from '../../lambdas/providers/index.js';
import {
  InventoryError,
  keyRouteOf,
  loadInventory,
  parseInventory,
  readInventory,
  resolveInventory,
} from '../../lib/inventory.js';

const GUIDE = fileURLToPath(new URL('./guide-inventory.yaml', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../rekey.yaml', import.meta.url));

// biome-ignore lint/suspicious/noExplicitAny: malformed cases mutate the raw document freely
type Raw = Record<string, any>;

/** A valid inventory; each malformed case changes one thing. */
function valid(): Raw {
  return {
    api_keys: [
      {
        name: 'sendgrid-api-key',
        provider: 'SendGrid',
        environment: 'production',
        used_by: ['notification-service'],
        vault_path: 'prod/sendgrid/api-key',
        rotation_frequency: '90d',
        supports_dual_key: true,
        provider_api: 'https://api.sendgrid.com/v3/api_keys',
        criticality: 'medium',
        rotator_secret: 'rekey/rotator/sendgrid',
      },
    ],
    rotation_schedules: [
      { secret: 'prod/sendgrid/api-key', provider: 'sendgrid', schedule: '0 2 1 */3 *', grace_period: '4h' },
    ],
  };
}

function problemsOf(mutate: (inv: Raw) => void): string {
  const inv = valid();
  mutate(inv);
  try {
    resolveInventory(parseInventory(inv, 'test.yaml'), ['sendgrid'], 'test.yaml');
  } catch (error) {
    assert.ok(error instanceof InventoryError, `expected an InventoryError, got ${String(error)}`);
    assert.equal(error.code, 'INVALID_INPUT');
    return error.message;
  }
  assert.fail('the inventory was accepted');
}

const key = (inv: Raw) => inv.api_keys[0];
const schedule = (inv: Raw) => inv.rotation_schedules[0];

describe('inventory: valid inventories', () => {
  it("accepts the guide's own inventory and schedules as written", () => {
    const inventory = readInventory(GUIDE);
    assert.deepEqual(
      inventory.api_keys.map((k) => [k.name, k.rotation_frequency.expression]),
      [
        ['stripe-api-key', 'rate(30 days)'],
        ['sendgrid-api-key', 'rate(90 days)'],
        ['internal-service-api-key', 'rate(7 days)'],
      ],
    );
    assert.deepEqual(
      inventory.rotation_schedules.map((s) => s.schedule.expression),
      ['cron(0 2 1 * ? *)', 'cron(0 3 ? * SUN *)', 'cron(0 2 1 */3 ? *)'],
    );
  });

  it("says exactly why the guide's inventory cannot be deployed as is (providers, schedule names)", () => {
    const error = (() => {
      try {
        resolveInventory(readInventory(GUIDE), ['sendgrid'], 'guide');
      } catch (e) {
        return e as InventoryError;
      }
      assert.fail('resolved');
    })();
    assert.ok(
      error.problems.some((p) =>
        /api_keys\[0\] \(stripe-api-key\): field "provider" is "Stripe".*known providers: sendgrid/.test(p),
      ),
    );
    assert.ok(
      error.problems.some((p) =>
        /rotation_schedules\[2\] \(prod\/sendgrid-api-key\): field "secret" names no api_keys entry/.test(p),
      ),
    );
  });

  it('accepts the shipped rekey.yaml and joins each key with its schedule', () => {
    const plans = loadInventory(EXAMPLE, Object.keys(PROVIDERS));
    const byName = new Map(plans.map((p) => [p.name, p]));
    const main = byName.get('sendgrid-api-key')!;
    assert.equal(main.secretName, 'prod/sendgrid/api-key');
    assert.equal(main.schedule.expression, 'cron(0 2 1 */3 ? *)');
    assert.equal(main.window, '2h');
    assert.equal(main.graceSeconds, 4 * 3600);
    assert.equal(main.rollbackOnFailure, true);
    assert.equal(main.frequencySeconds, 90 * 86_400);
    const gateway = byName.get('internal-service-api-key')!;
    assert.equal(gateway.provider, 'http', 'the adapter field picks the generic HTTP adapter');
    assert.equal(gateway.schedule.expression, 'cron(0 3 ? * SUN *)');
    assert.equal(byName.get('sendgrid-marketing-key')?.rollbackOnFailure, false);
  });

  it('defaults: no schedule entry → rate from rotation_frequency, 2h grace (DEFAULT_GRACE_PERIOD), alerts on, no rollback', () => {
    const inv = valid();
    inv.rotation_schedules = [];
    const [plan] = resolveInventory(parseInventory(inv), ['sendgrid']);
    assert.equal(plan?.schedule.expression, 'rate(90 days)');
    assert.equal(plan?.gracePeriod, '2h');
    assert.equal(plan?.alertOnFailure, true);
    assert.equal(plan?.rollbackOnFailure, false);
    assert.equal(plan?.imported, false);
    assert.equal(plan?.provider, 'sendgrid');
    assert.equal(plan?.singleKey, false);
  });

  it('accepts a key that cannot overlap only with the explicit interruption opt-in', () => {
    const inv = valid();
    const entry = key(inv);
    entry.supports_dual_key = false;
    entry.single_key_rotation = 'accept-interruption';
    const [plan] = resolveInventory(parseInventory(inv), ['sendgrid']);
    assert.equal(plan?.singleKey, true);
  });
});

/** [what is wrong, mutation, the entry the message must name, the field it must name] */
const MALFORMED: Array<[string, (inv: Raw) => void, string, string]> = [
  ['no api_keys section', (inv) => delete inv.api_keys, 'inventory', 'api_keys'],
  [
    'an empty api_keys list',
    (inv) => {
      inv.api_keys = [];
      inv.rotation_schedules = [];
    },
    'inventory',
    'api_keys',
  ],
  [
    'a key without vault_path',
    (inv) => delete key(inv).vault_path,
    'api_keys[0] (sendgrid-api-key)',
    'vault_path',
  ],
  [
    'a key without rotation_frequency',
    (inv) => delete key(inv).rotation_frequency,
    'api_keys[0] (sendgrid-api-key)',
    'rotation_frequency',
  ],
  [
    'a frequency under 4 hours',
    (inv) => {
      key(inv).rotation_frequency = '3h';
    },
    'api_keys[0] (sendgrid-api-key)',
    'rotation_frequency',
  ],
  [
    'a frequency in words',
    (inv) => {
      key(inv).rotation_frequency = 'monthly';
    },
    'api_keys[0] (sendgrid-api-key)',
    'rotation_frequency',
  ],
  [
    'a frequency over 1000 days',
    (inv) => {
      key(inv).rotation_frequency = '1001d';
    },
    'api_keys[0] (sendgrid-api-key)',
    'rotation_frequency',
  ],
  [
    'a vault_path with a space',
    (inv) => {
      key(inv).vault_path = 'prod/sendgrid key';
    },
    'api_keys[0] (sendgrid-api-key)',
    'vault_path',
  ],
  [
    'a name with punctuation',
    (inv) => {
      key(inv).name = 'send grid!';
    },
    'api_keys[0] (send grid!)',
    'name',
  ],
  [
    'a misspelt field',
    (inv) => {
      key(inv).rotaton_frequency = '30d';
    },
    'api_keys[0] (sendgrid-api-key)',
    'rotaton_frequency',
  ],
  [
    'supports_dual_key: false',
    (inv) => {
      key(inv).supports_dual_key = false;
    },
    'api_keys[0] (sendgrid-api-key)',
    'supports_dual_key',
  ],
  [
    'single_key_rotation on a key that supports two keys',
    (inv) => {
      key(inv).single_key_rotation = 'accept-interruption';
    },
    'api_keys[0] (sendgrid-api-key)',
    'single_key_rotation',
  ],
  [
    'an unknown criticality',
    (inv) => {
      key(inv).criticality = 'urgent';
    },
    'api_keys[0] (sendgrid-api-key)',
    'criticality',
  ],
  [
    'used_by as a string',
    (inv) => {
      key(inv).used_by = 'notification-service';
    },
    'api_keys[0] (sendgrid-api-key)',
    'used_by',
  ],
  [
    'provider_api that is not a URL',
    (inv) => {
      key(inv).provider_api = 'sendgrid api';
    },
    'api_keys[0] (sendgrid-api-key)',
    'provider_api',
  ],
  [
    'a rotator_secret with spaces',
    (inv) => {
      key(inv).rotator_secret = 'rotator secret';
    },
    'api_keys[0] (sendgrid-api-key)',
    'rotator_secret',
  ],
  [
    'a malformed secret_arn',
    (inv) => {
      key(inv).secret_arn = 'arn:aws:s3:::bucket';
    },
    'api_keys[0] (sendgrid-api-key)',
    'secret_arn',
  ],
  [
    'kms_key_arn without secret_arn',
    (inv) => {
      key(inv).kms_key_arn = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    },
    'api_keys[0] (sendgrid-api-key)',
    'kms_key_arn',
  ],
  [
    'auth_failure_baseline of 0',
    (inv) => {
      key(inv).auth_failure_baseline = 0;
    },
    'api_keys[0] (sendgrid-api-key)',
    'auth_failure_baseline',
  ],
  [
    'a schedule not on the hour',
    (inv) => {
      schedule(inv).schedule = '30 2 * * *';
    },
    'rotation_schedules[0] (prod/sendgrid/api-key)',
    'schedule',
  ],
  [
    'a schedule restricting both day fields',
    (inv) => {
      schedule(inv).schedule = '0 2 1 * 1';
    },
    'rotation_schedules[0] (prod/sendgrid/api-key)',
    'schedule',
  ],
  [
    'an hourly schedule',
    (inv) => {
      schedule(inv).schedule = '0 * * * *';
    },
    'rotation_schedules[0] (prod/sendgrid/api-key)',
    'schedule',
  ],
  [
    'a 4-field schedule',
    (inv) => {
      schedule(inv).schedule = '0 2 1 *';
    },
    'rotation_schedules[0] (prod/sendgrid/api-key)',
    'schedule',
  ],
  [
    'a grace period in words',
    (inv) => {
      schedule(inv).grace_period = 'soon';
    },
    'rotation_schedules[0] (prod/sendgrid/api-key)',
    'grace_period',
  ],
  [
    'a grace period as long as the interval',
    (inv) => {
      schedule(inv).schedule = '0 2 * * *';
      schedule(inv).grace_period = '1d';
    },
    'rotation_schedules[0] (prod/sendgrid/api-key)',
    'grace_period',
  ],
  [
    'a window past midnight UTC',
    (inv) => {
      schedule(inv).schedule = '0 22 * * *';
      schedule(inv).rotation_window = '3h';
    },
    'rotation_schedules[0] (prod/sendgrid/api-key)',
    'rotation_window',
  ],
  [
    'a window in minutes',
    (inv) => {
      schedule(inv).rotation_window = '90m';
    },
    'rotation_schedules[0] (prod/sendgrid/api-key)',
    'rotation_window',
  ],
  [
    'rollback_on_failure as a string',
    (inv) => {
      schedule(inv).rollback_on_failure = 'yes';
    },
    'rotation_schedules[0] (prod/sendgrid/api-key)',
    'rollback_on_failure',
  ],
  [
    'a schedule for no key',
    (inv) => {
      schedule(inv).secret = 'prod/stripe-api-key';
    },
    'rotation_schedules[0] (prod/stripe-api-key)',
    'secret',
  ],
  [
    'a schedule whose provider disagrees with the key',
    (inv) => {
      schedule(inv).provider = 'stripe';
    },
    'rotation_schedules[0] (prod/sendgrid/api-key)',
    'provider',
  ],
  [
    'two schedules for one key',
    (inv) => {
      inv.rotation_schedules.push({ ...schedule(inv) });
    },
    'rotation_schedules[1] (prod/sendgrid/api-key)',
    'secret',
  ],
  [
    'two keys with one name',
    (inv) => {
      inv.api_keys.push({ ...key(inv), vault_path: 'prod/other' });
    },
    'api_keys[1] (sendgrid-api-key)',
    'name',
  ],
  [
    'two keys in one secret',
    (inv) => {
      inv.api_keys.push({ ...key(inv), name: 'other' });
    },
    'api_keys[1] (other)',
    'vault_path',
  ],
  [
    'a provider rekey cannot rotate',
    (inv) => {
      key(inv).provider = 'Stripe';
      inv.rotation_schedules = [];
    },
    'api_keys[0] (sendgrid-api-key)',
    'provider',
  ],
  [
    'an unknown adapter',
    (inv) => {
      key(inv).adapter = 'mailgun';
    },
    'api_keys[0] (sendgrid-api-key)',
    'adapter',
  ],
  [
    'no rotator_secret',
    (inv) => delete key(inv).rotator_secret,
    'api_keys[0] (sendgrid-api-key)',
    'rotator_secret',
  ],
  [
    'SendGrid options the adapter does not know',
    (inv) => {
      key(inv).options = { scope: ['mail.send'] };
    },
    'api_keys[0] (sendgrid-api-key)',
    'options.scope',
  ],
  [
    'a subscription that is neither e-mail nor https',
    (inv) => {
      inv.notifications = { on_call: ['http://pager.example.com'] };
    },
    'notifications',
    'on_call.0',
  ],
  [
    'an unknown top-level section',
    (inv) => {
      inv.monitoring = {};
    },
    'inventory',
    'monitoring',
  ],
  [
    'an operator that is not a principal ARN',
    (inv) => {
      inv.operators = ['alice@example.com'];
    },
    'inventory',
    'operators.0',
  ],
  [
    'an operator given as a role session ARN',
    (inv) => {
      inv.operators = ['arn:aws:sts::123456789012:assumed-role/Admin/alice'];
    },
    'inventory',
    'operators.0',
  ],
  [
    'an operator pattern that matches every role',
    (inv) => {
      inv.operators = ['arn:aws:iam::123456789012:role/*'];
    },
    'inventory',
    'operators.0',
  ],
  [
    'a reader pattern with a wildcard account',
    (inv) => {
      key(inv).readers = ['arn:aws:iam::*:role/app'];
    },
    'api_keys[0] (sendgrid-api-key)',
    'readers.0',
  ],
  [
    'an empty readers list',
    (inv) => {
      key(inv).readers = [];
    },
    'api_keys[0] (sendgrid-api-key)',
    'readers',
  ],
  [
    'readers on an existing secret',
    (inv) => {
      key(inv).secret_arn =
        'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/sendgrid/api-key-AbCdEf';
      key(inv).readers = ['arn:aws:iam::123456789012:role/notification-service'];
    },
    'api_keys[0] (sendgrid-api-key)',
    'readers',
  ],
  [
    'a rotator_kms_key_arn that is not a KMS key ARN',
    (inv) => {
      key(inv).rotator_kms_key_arn = 'alias/rekey-rotators';
    },
    'api_keys[0] (sendgrid-api-key)',
    'rotator_kms_key_arn',
  ],
];

describe('inventory: who may change and read the secrets (operators, readers, rotator_kms_key_arn)', () => {
  it('carries operators to every key, and readers and the rotator KMS key to theirs', () => {
    const inv = valid();
    inv.operators = [
      'arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_RekeyOperator_*',
      'arn:aws:iam::123456789012:user/break-glass',
    ];
    key(inv).readers = ['arn:aws:iam::123456789012:role/notification-service-*'];
    key(inv).rotator_kms_key_arn =
      'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const [plan] = resolveInventory(parseInventory(inv, 'test.yaml'), ['sendgrid'], 'test.yaml');
    assert.deepEqual(plan!.operators, inv.operators);
    assert.deepEqual(plan!.readers, key(inv).readers);
    assert.equal(plan!.rotatorKmsKeyArn, key(inv).rotator_kms_key_arn);
  });

  it('defaults: no operators, no readers, no rotator KMS key', () => {
    const [plan] = resolveInventory(parseInventory(valid(), 'test.yaml'), ['sendgrid'], 'test.yaml');
    assert.deepEqual(plan!.operators, []);
    assert.equal(plan!.readers, undefined);
    assert.equal(plan!.rotatorKmsKeyArn, undefined);
  });

  it('says why a session ARN never matches and what to write instead', () => {
    const message = problemsOf((inv) => {
      inv.operators = ['arn:aws:sts::123456789012:assumed-role/Admin/alice'];
    });
    assert.match(
      message,
      /field "operators\.0" is a role session ARN .*write arn:aws:iam::<account>:role\/<role name>/,
    );
  });
});

/** valid() with a second SendGrid key whose rotator_secret is `first` and `second` as written. */
function twoKeys(first: string, second: string): Raw {
  const inv = valid();
  key(inv).rotator_secret = first;
  inv.api_keys.push({
    ...key(inv),
    name: 'sendgrid-marketing-key',
    vault_path: 'prod/sendgrid/marketing-key',
    rotator_secret: second,
  });
  return inv;
}

function resolved(inv: Raw) {
  return resolveInventory(parseInventory(inv, 'test.yaml'), ['sendgrid'], 'test.yaml');
}

function refused(inv: Raw): InventoryError {
  try {
    resolved(inv);
  } catch (error) {
    assert.ok(error instanceof InventoryError, `expected an InventoryError, got ${String(error)}`);
    return error;
  }
  assert.fail('the inventory was accepted');
}

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rekey/rotator/sendgrid';

describe('inventory: keys sharing a rotator credential spell rotator_secret the same way', () => {
  it('accepts two keys that write the same name, or the same ARN', () => {
    assert.equal(resolved(twoKeys('rekey/rotator/sendgrid', 'rekey/rotator/sendgrid')).length, 2);
    assert.equal(resolved(twoKeys(`${ARN}-AbCdEf`, `${ARN}-AbCdEf`)).length, 2);
  });

  it('accepts two keys with different rotator secrets, even when one name extends the other', () => {
    assert.equal(resolved(twoKeys('rekey/rotator/sendgrid', 'rekey/rotator/sendgrid-eu')).length, 2);
    assert.equal(resolved(twoKeys('rekey/rotator/sendgrid', 'rekey/rotator/sendgrid-AbCdEf')).length, 2);
    assert.equal(resolved(twoKeys(`${ARN}-AbCdEf`, ARN.replace('123456789012', '210987654321'))).length, 2);
  });

  for (const [what, arn] of [
    ['a partial ARN', ARN],
    ['a full ARN (random suffix)', `${ARN}-AbCdEf`],
  ] as const) {
    it(`refuses a name in one entry and ${what} of that name in another, naming both entries and the fix`, () => {
      const error = refused(twoKeys('rekey/rotator/sendgrid', arn));
      assert.deepEqual(error.problems, [
        `api_keys[1] (sendgrid-marketing-key): field "rotator_secret" is "${arn}" but api_keys[0] (sendgrid-api-key) writes "rekey/rotator/sendgrid" for the same secret, and rekey tells keys that share a rotator credential by the exact text; write the same name or ARN in both`,
      ]);
    });
  }

  it('refuses the ARN first and the name second too, and a partial and a full ARN of one secret', () => {
    assert.match(
      refused(twoKeys(`${ARN}-AbCdEf`, 'rekey/rotator/sendgrid')).message,
      /api_keys\[1\] \(sendgrid-marketing-key\): field "rotator_secret" is "rekey\/rotator\/sendgrid" but api_keys\[0\] \(sendgrid-api-key\) writes "arn:[^"]+-AbCdEf" .*; write the same name or ARN in both$/m,
    );
    assert.match(
      refused(twoKeys(ARN, `${ARN}-AbCdEf`)).message,
      /api_keys\[1\] \(sendgrid-marketing-key\): field "rotator_secret" .* write the same name or ARN in both/,
    );
  });

  it('reports each differing entry once, against the first spelling seen', () => {
    const inv = twoKeys('rekey/rotator/sendgrid', ARN);
    inv.api_keys.push({ ...key(inv), name: 'third', vault_path: 'prod/third', rotator_secret: ARN });
    inv.api_keys.push({
      ...key(inv),
      name: 'fourth',
      vault_path: 'prod/fourth',
      rotator_secret: `${ARN}-AbCdEf`,
    });
    const problems = refused(inv).problems;
    assert.deepEqual(
      problems.map((p) => p.slice(0, p.indexOf(':'))),
      ['api_keys[1] (sendgrid-marketing-key)', 'api_keys[3] (fourth)'],
    );
    assert.match(problems[1]!, /but api_keys\[0\] \(sendgrid-api-key\) writes "rekey\/rotator\/sendgrid"/);
  });
});

describe('inventory: values quoted back are shown safely', () => {
  it('escapes control characters in a quoted name, so no problem line is forged', () => {
    const error = refused(
      (() => {
        const inv = valid();
        key(inv).name = 'x\n  - api_keys[0] (ok): field "name" is fine\u001b[2J';
        return inv;
      })(),
    );
    assert.equal(error.message.split('\n').length, 1 + error.problems.length);
    assert.ok(
      error.problems.some((p) =>
        p.startsWith('api_keys[0] (x\\n  - api_keys[0] (ok): field "name" is fine\\u001b[2J): field "name"'),
      ),
      error.message,
    );
  });

  it('escapes an unknown provider and a schedule secret, and leaves ordinary values as written', () => {
    const inv = valid();
    key(inv).provider = 'Stri\rpe';
    schedule(inv).secret = 'prod/\u0000sendgrid';
    const message = refused(inv).message;
    assert.match(message, /field "provider" is "Stri\\rpe", which rekey cannot rotate/);
    assert.match(
      message,
      /rotation_schedules\[0\] \(prod\/\\u0000sendgrid\): field "secret" names no api_keys entry/,
    );
    assert.match(message, /api_keys\[0\] \(sendgrid-api-key\): field "provider"/);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
    assert.doesNotMatch(message.replaceAll('\n  - ', ' '), /[\u0000-\u001f\u007f]/);
  });
});

describe('inventory: what each key pins at deploy time (its route)', () => {
  const plans = loadInventory(EXAMPLE, Object.keys(PROVIDERS));
  const plan = (name: string) => plans.find((p) => p.name === name)!;

  it('repeats the entry: secret, provider, rotator secret, options, single-key, grace and rollback', () => {
    assert.deepEqual(keyRouteOf(plan('sendgrid-api-key')), {
      name: 'sendgrid-api-key',
      secretName: 'prod/sendgrid/api-key',
      provider: 'sendgrid',
      rotatorSecret: 'rekey/rotator/sendgrid',
      options: { scopes: ['mail.send'] },
      singleKey: false,
      gracePeriod: '4h',
      rollbackOnFailure: true,
    });
  });

  it("pins the generic HTTP adapter's origin from provider_api, and no other adapter's", () => {
    assert.equal(keyRouteOf(plan('internal-service-api-key')).origin, 'https://gateway.internal');
    assert.equal(keyRouteOf(plan('sendgrid-api-key')).origin, undefined);
  });
});

describe('inventory: malformed inventories name the entry, the field and the fix', () => {
  it(`covers at least 20 cases (${MALFORMED.length})`, () => assert.ok(MALFORMED.length >= 20));
  for (const [what, mutate, entry, field] of MALFORMED) {
    it(`rejects ${what}`, () => {
      const message = problemsOf(mutate);
      assert.ok(message.startsWith('inventory test.yaml is invalid'), message);
      const line = message.split('\n').find((l) => l.includes(`${entry}: field "${field}"`));
      assert.ok(line, `no line names ${entry} and field "${field}":\n${message}`);
      assert.match(line, /; |must be one of|is not an inventory field/, `the line gives no fix: ${line}`);
    });
  }

  it('lists the known providers when the provider is unknown', () => {
    const message = problemsOf((inv) => {
      key(inv).provider = 'Stripe';
      inv.rotation_schedules = [];
    });
    assert.match(message, /known providers: sendgrid/);
  });

  it('a missing rotator_secret of a provider whose credential is {} (AWS IAM, API Gateway, Stripe) says to store {}', () => {
    // rotator_secret stays required for them (README, "Inventory"): the keys naming one secret are one
    // provider account to the revoker, and the key document names it. The message says what to create.
    const needsNone = Object.values(PROVIDERS).filter((p) => p.credentialSchema.safeParse({}).success);
    assert.deepEqual(needsNone.map((p) => p.name).sort(), ['api-gateway', 'aws-iam', 'stripe']);
    for (const provider of needsNone) {
      const inv = valid();
      Object.assign(key(inv), { provider: provider.displayName, options: {} });
      delete key(inv).rotator_secret;
      delete key(inv).provider_api;
      inv.rotation_schedules = [];
      let problems: string[] = [];
      try {
        resolveInventory(parseInventory(inv, 'test.yaml'), Object.keys(PROVIDERS), 'test.yaml');
      } catch (error) {
        assert.ok(error instanceof InventoryError);
        problems = error.problems;
      }
      const line = problems.find((p) => p.includes('field "rotator_secret" is missing'));
      assert.ok(line, `${provider.name}: ${problems.join('; ')}`);
      assert.match(line, new RegExp(`${provider.displayName} needs no admin credential.*holding \\{\\}`));
      assert.match(line, new RegExp(`e\\.g\\. "rekey/rotator/${provider.name}"`));
    }
    // A provider with an admin credential keeps the generic fix.
    assert.doesNotMatch(
      problemsOf((inv) => delete key(inv).rotator_secret),
      /holding \{\}/,
    );
  });

  it('names the YAML line of a syntax error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-inv-'));
    const path = join(dir, 'broken.yaml');
    writeFileSync(path, 'api_keys:\n  - name: "a\n    provider: x\n');
    assert.throws(
      () => readInventory(path),
      (e: Error) => e instanceof InventoryError && /line \d+/.test(e.message),
    );
  });

  it('names the file when it cannot be read', () => {
    assert.throws(
      () => readInventory('/nonexistent/rekey.yaml'),
      /inventory \/nonexistent\/rekey.yaml is invalid:[\s\S]*ENOENT/,
    );
  });
});
