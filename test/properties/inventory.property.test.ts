import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { PROVIDERS } from '../../lambdas/providers/index.js';
import {
  InventoryError,
  InventorySchema,
  type ManagedKeyPlan,
  parseInventory,
  parseNotifications,
  resolveInventory,
  shown,
} from '../../lib/inventory.js';
import {
  assertTypedRejection,
  brief,
  CaseCounts,
  defineField,
  fieldsNamed,
  hostileKey,
  hostileOrSecret,
  hostileValue,
  mentions,
  outcomeOf,
  PROTOTYPE_NAMES,
  parameters,
  SEEDS,
  secretBearing,
  secretValue,
  weakenedParameters,
  withSecret,
} from './support.js';

/**
 * Surface 1: the inventory (rekey.yaml), as YAML hands it over — any mapping, list, scalar, NaN or Infinity —
 * through parseInventory and resolveInventory, the path `rekey` and the stack take.
 */

const SOURCE = 'hostile.yaml';
const PROVIDER_NAMES = Object.keys(PROVIDERS);
const counts = new CaseCounts();
after(() => counts.print());

// biome-ignore lint/suspicious/noExplicitAny: mutations write anywhere in the raw document
type Raw = Record<string, any>;

/** A valid inventory using every field; each case breaks it in one to three places. */
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
        auth_failure_baseline: 2,
        rotator_secret: 'rekey/rotator/sendgrid',
        options: { scopes: ['mail.send'] },
        imported: false,
      },
    ],
    rotation_schedules: [
      {
        secret: 'prod/sendgrid/api-key',
        provider: 'sendgrid',
        schedule: '0 2 1 */3 *',
        grace_period: '4h',
        alert_on_failure: true,
        rollback_on_failure: false,
        rotation_window: '2h',
      },
    ],
    notifications: {
      on_call: ['oncall@example.com'],
      security: ['https://hooks.example.com/sec'],
      app_team: [],
    },
    providers: { sendgrid: { endpoint: 'https://api.eu.sendgrid.com' } },
  };
}

const KEY_FIELDS = [
  ...Object.keys(valid().api_keys[0]),
  'adapter',
  'single_key_rotation',
  'secret_arn',
  'kms_key_arn',
];
const SCHEDULE_FIELDS = Object.keys(valid().rotation_schedules[0]);
const TOP_FIELDS = Object.keys(valid());

/**
 * Where a case writes, which field names a refusal may give for it, and what it writes. Identifiers and
 * expressions (name, provider, vault_path, schedules…) are quoted back by design so the author can find
 * them, so they get hostile values only; every other field must never echo what it holds and also gets
 * the secret, as a credential pasted into the wrong place would be.
 */
interface Target {
  path: Array<string | number>;
  /** A refusal must name one of these; '*' when the case replaces a whole entry or section. */
  names: string[] | '*';
  values: fc.Arbitrary<unknown>;
  op?: 'duplicate';
  /** An extra field's key: any text, commas and quotes included, so it is looked for as shown() quotes it. */
  extraKey?: string;
}

/** Near-misses per field, where the rules (not the types) are what is tested. */
const NEAR: Record<string, string[]> = {
  rotation_frequency: [
    '3h',
    '4h',
    '25h',
    '1000d',
    '1001d',
    '0d',
    '-1d',
    '90 d',
    '90D',
    '1.5d',
    `${'9'.repeat(400)}d`,
  ],
  schedule: [
    '* * * * *',
    '0 2 31 2 *',
    '0 2 1 */3 * *',
    'rate(1 minute)',
    'rate(0 days)',
    'cron(0 2 1 * ? *)',
    '60 2 1 * *',
  ],
  grace_period: ['0s', '1000w', `${'9'.repeat(400)}w`, '4 h', '-1h'],
  rotation_window: ['0h', '1h', '24h', '25h', '2h30m', '90m'],
  criticality: ['MEDIUM', 'urgent'],
  single_key_rotation: ['accept-interruption', 'ACCEPT-INTERRUPTION'],
  secret_arn: [
    'arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/key-AbCdEf',
    'arn:aws:secretsmanager:::secret:x',
  ],
  kms_key_arn: ['arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab'],
  provider_api: ['http://localhost:1', 'ftp://api.sendgrid.com', 'https://'],
  endpoint: ['http://api.sendgrid.com', 'https://evil.example', 'https:///x'],
};

const near = (field: string): fc.Arbitrary<unknown>[] =>
  NEAR[field] ? [fc.constantFrom<unknown>(...NEAR[field]!)] : [];
const echoedValue = (field: string) => fc.oneof(hostileValue, ...near(field));
// Value fields get the secret in two cases of five: they are where a pasted credential would land.
const plainValue = (field: string) =>
  fc.oneof({ weight: 3, arbitrary: hostileValue }, { weight: 2, arbitrary: secretBearing }, ...near(field));

const ECHOED_KEY_FIELDS = new Set(['name', 'provider', 'vault_path', 'rotation_frequency', 'adapter']);
const ECHOED_SCHEDULE_FIELDS = new Set(['secret', 'provider', 'schedule', 'grace_period', 'rotation_window']);
/** What a refusal may name instead, when the field is referenced from elsewhere or checked against it. */
const ALSO: Record<string, string[]> = {
  vault_path: ['secret'],
  adapter: ['provider'],
  single_key_rotation: ['supports_dual_key'],
  schedule: ['grace_period', 'rotation_window'],
};

/**
 * Provider-map keys exclude Object.prototype names: a non-mapping under one hits the known bug the todo
 * below documents, and would mask every other finding.
 */
const providerKeys = hostileKey.filter((k) => !PROTOTYPE_NAMES.has(k));
const providerMaps = hostileOrSecret.filter(
  (v) => v === null || typeof v !== 'object' || !Object.keys(v).some((k) => PROTOTYPE_NAMES.has(k)),
);

const fixedTargets: Target[] = [
  ...KEY_FIELDS.map(
    (f): Target => ({
      path: ['api_keys', 0, f],
      names: [f, ...(ALSO[f] ?? [])],
      values: ECHOED_KEY_FIELDS.has(f) ? echoedValue(f) : plainValue(f),
    }),
  ),
  ...SCHEDULE_FIELDS.map(
    (f): Target => ({
      path: ['rotation_schedules', 0, f],
      names: [f, ...(ALSO[f] ?? [])],
      values: ECHOED_SCHEDULE_FIELDS.has(f) ? echoedValue(f) : plainValue(f),
    }),
  ),
  { path: ['api_keys', 0, 'used_by', 0], names: ['used_by'], values: hostileOrSecret },
  { path: ['api_keys', 0, 'options', 'scopes'], names: ['options'], values: hostileOrSecret },
  { path: ['api_keys', 0, 'options', 'scopes', 0], names: ['options'], values: hostileOrSecret },
  ...['on_call', 'security', 'app_team'].flatMap((f): Target[] => [
    { path: ['notifications', f], names: [f], values: hostileOrSecret },
    { path: ['notifications', f, 0], names: [f], values: hostileOrSecret },
  ]),
  { path: ['providers', 'sendgrid'], names: ['sendgrid'], values: hostileOrSecret },
  { path: ['providers'], names: '*', values: providerMaps },
  { path: ['providers', 'sendgrid', 'endpoint'], names: ['endpoint'], values: plainValue('endpoint') },
  ...TOP_FIELDS.filter((f) => f !== 'providers').map(
    (f): Target => ({ path: [f], names: '*', values: hostileOrSecret }),
  ),
  { path: ['api_keys', 0], names: '*', values: hostileOrSecret },
  { path: ['rotation_schedules', 0], names: '*', values: hostileOrSecret },
  { path: ['api_keys'], names: ['name', 'vault_path', 'secret'], values: fc.constant(null), op: 'duplicate' },
  // The whole document: a list, a scalar, the secret itself.
  { path: [], names: '*', values: hostileOrSecret },
];

/** Extra fields: the key is quoted back (it is a field name), its value never. */
const extraTarget = (
  at: Array<string | number>,
  taken: readonly string[],
  keys = hostileKey,
  also: string[] = [],
) =>
  fc
    .tuple(
      keys.filter((k) => !taken.includes(k)),
      hostileOrSecret,
    )
    .map(([k, v]) => ({
      target: { path: [...at, k], names: also, values: fc.constant(v), extraKey: k } as Target,
      value: v,
    }));

interface Mutation {
  target: Target;
  value: unknown;
  delete: boolean;
}

const mutation: fc.Arbitrary<Mutation> = fc
  .tuple(
    fc.oneof(
      {
        weight: 6,
        arbitrary: fc.oneof(...fixedTargets.map((t) => t.values.map((value) => ({ target: t, value })))),
      },
      extraTarget(['api_keys', 0], KEY_FIELDS),
      extraTarget(['rotation_schedules', 0], SCHEDULE_FIELDS),
      extraTarget([], TOP_FIELDS),
      extraTarget(['notifications'], ['on_call', 'security', 'app_team']),
      // The options schema is the adapter's; it reports an unknown option as options (or options.<key>).
      extraTarget(['api_keys', 0, 'options'], ['scopes'], hostileKey, ['options']),
      extraTarget(['providers'], ['sendgrid'], providerKeys),
    ),
    fc.nat(9),
  )
  // One write in ten is a deletion instead.
  .map(([{ target, value }, roll]) => ({ target, value, delete: roll === 0 && target.op === undefined }));

/** Applies a mutation where its parent still exists; false when an earlier one removed or replaced it. */
function apply(doc: { root: unknown }, m: Mutation): boolean {
  let parent: unknown = doc;
  let key: string | number = 'root';
  for (const segment of m.target.path) {
    const next = (parent as Record<string, unknown>)[key];
    if (next === null || typeof next !== 'object' || !Object.hasOwn(parent as object, key)) return false;
    parent = next;
    key = segment;
  }
  const holder = parent as Record<string | number, unknown>;
  if (m.target.op === 'duplicate') {
    const list = holder[key];
    if (!Array.isArray(list) || list.length === 0) return false;
    list.push(structuredClone(list[0]));
    return true;
  }
  if (m.delete) {
    if (!Object.hasOwn(holder, key)) return false;
    if (Array.isArray(holder)) holder.splice(Number(key), 1);
    else delete holder[key];
    return true;
  }
  defineField(holder, String(key), m.value);
  return true;
}

interface InventoryCase {
  raw: unknown;
  secret: string;
  applied: Mutation[];
}

const inventoryCase: fc.Arbitrary<InventoryCase> = fc
  .tuple(secretValue, fc.array(mutation, { minLength: 1, maxLength: 3 }))
  .map(([secret, mutations]) => {
    const doc = { root: valid() as unknown };
    const applied = mutations.filter((m) => apply(doc, m));
    return { raw: withSecret(doc.root, secret), secret, applied };
  });

/** Fields an inventory refusal names: each problem's `field "…"`, or the document itself. */
const inventoryFields = (message: string): string[] => [
  ...fieldsNamed(message),
  ...(/the document must be a mapping|is not JSON/.test(message) ? ['(document)'] : []),
];

/** What an accepted inventory promises the stack, checked without the schema. */
function assertPlans(plans: ManagedKeyPlan[]): void {
  assert.ok(Array.isArray(plans) && plans.length > 0, 'an accepted inventory has keys');
  assert.equal(new Set(plans.map((p) => p.name)).size, plans.length, 'names are unique');
  assert.equal(new Set(plans.map((p) => p.secretName)).size, plans.length, 'secrets are unique');
  for (const plan of plans) {
    assert.match(plan.name, /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/);
    assert.match(plan.secretName, /^[A-Za-z0-9/_+=.@-]{1,512}$/);
    assert.ok(PROVIDER_NAMES.includes(plan.provider), `provider ${brief(plan.provider)}`);
    assert.ok(typeof plan.rotatorSecret === 'string' && plan.rotatorSecret.length > 0);
    assert.ok(plan.frequencySeconds >= 4 * 3600 && plan.frequencySeconds <= 1000 * 86_400, 'frequency');
    assert.ok(plan.graceSeconds >= 0 && plan.graceSeconds < plan.schedule.minIntervalSeconds, 'grace');
    assert.ok(Number.isInteger(plan.authFailureBaseline) && plan.authFailureBaseline >= 1, 'baseline');
    assert.ok(
      plan.usedBy.every((u) => typeof u === 'string' && u.length > 0),
      'used_by',
    );
    assert.equal(typeof plan.imported, 'boolean');
    assert.equal(typeof plan.singleKey, 'boolean');
  }
}

type Validate = (raw: unknown) => ManagedKeyPlan[];
const realValidator: Validate = (raw) =>
  resolveInventory(parseInventory(raw, SOURCE), PROVIDER_NAMES, SOURCE);

/** The property: accepted and well-formed, or an InventoryError naming a field the case broke; no echo, no writes. */
function inventoryProperty(validate: Validate, count: boolean) {
  return fc.property(inventoryCase, ({ raw, secret, applied }) => {
    if (count) counts.count('inventory');
    const before = fc.stringify(raw);
    const { outcome, output } = outcomeOf(() => validate(raw));
    assert.equal(fc.stringify(raw), before, 'validation changed its input');
    assert.equal(output, '', 'validation wrote to stdout/stderr');
    if (outcome.accepted) return assertPlans(outcome.value);
    const error = assertTypedRejection(outcome.error, {
      secrets: [secret],
      types: [InventoryError],
      named: inventoryFields,
      // Unknown keys may hold quotes and commas, so the named-field check is done below, per mutation.
      expectField: () => true,
    });
    assert.match(error.message, /field "|the document must be a mapping/, 'the message names no field');
    const named = inventoryFields(error.message);
    const namesABrokenField = applied.some(
      ({ target }) =>
        target.names === '*' ||
        // An extra key is quoted back as shown() renders it: control characters escaped, the rest as written.
        (target.extraKey !== undefined && error.message.includes(shown(target.extraKey))) ||
        target.names.some((n) => named.some((field) => mentions(field, n))),
    );
    assert.ok(namesABrokenField, `no field the case broke is named: ${brief(error.message)}`);
  });
}

describe('properties: the inventory', () => {
  it('accepts the base inventory every case starts from', () => {
    assert.equal(realValidator(valid()).length, 1);
  });

  it('hostile inventories are accepted well-formed or refused with a typed error naming the field, echoing no secret', () => {
    fc.assert(inventoryProperty(realValidator, true), parameters(SEEDS.inventory));
  });

  it('the notifications context (object or JSON text) likewise', () => {
    const subscriptions = fc.array(
      fc.oneof(
        fc.constantFrom(
          'oncall@example.com',
          'https://hooks.example.com/a',
          `https://hooks.example.com/${'x'}`,
        ),
        hostileOrSecret,
      ),
      { maxLength: 3 },
    );
    const notifications = fc.oneof(
      fc.record(
        { on_call: subscriptions, security: subscriptions, app_team: subscriptions },
        { requiredKeys: [] },
      ),
      fc.dictionary(hostileKey, hostileOrSecret, { maxKeys: 3 }),
      hostileOrSecret,
    );
    const asText = fc.oneof(
      notifications,
      notifications.map((n) => JSON.stringify(n) ?? 'undefined'),
      secretBearing,
    );
    fc.assert(
      fc.property(secretValue, asText, (secret, generated) => {
        counts.count('notifications');
        const raw = withSecret(generated, secret);
        const before = fc.stringify(raw);
        const { outcome, output } = outcomeOf(() => parseNotifications(raw, 'context notifications'));
        assert.equal(fc.stringify(raw), before);
        assert.equal(output, '');
        if (outcome.accepted) {
          for (const list of Object.values(outcome.value))
            assert.ok(list.every((s) => /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(s) || /^https:\/\/\S+$/.test(s)));
          return;
        }
        // An unknown key that is itself "" is named as such — also when the context is JSON text.
        const value = typeof raw === 'string' ? jsonOrUndefined(raw) : raw;
        const emptyKey = value !== null && typeof value === 'object' && Object.hasOwn(value, '');
        assertTypedRejection(outcome.error, {
          secrets: [secret],
          types: [InventoryError],
          named: inventoryFields,
          expectField: (field) => field !== '' || emptyKey,
        });
      }),
      parameters(SEEDS.notifications),
    );
  });

  it('a deliberately weakened validator (test-only) fails the property: a plain Error that quotes the input', () => {
    // What a quick hand-written check tends to do: refuse with the document in the message.
    const weakened: Validate = (raw) => {
      const parsed = InventorySchema.safeParse(raw);
      if (!parsed.success) throw new Error(`invalid inventory: ${JSON.stringify(raw)}`);
      return resolveInventory(parsed.data, PROVIDER_NAMES, SOURCE);
    };
    const details = fc.check(inventoryProperty(weakened, false), weakenedParameters(SEEDS.inventory));
    assert.equal(details.failed, true, 'the property must catch the weakened validator');
    console.log(`weakened inventory validator: counterexample at case ${details.numRuns}`);
  });

  it('a provider-map key named like an Object.prototype member gets a fix text, not a native function', () => {
    const keys = fc.constantFrom(...PROTOTYPE_NAMES).filter((k) => k !== '__proto__');
    fc.assert(
      fc.property(keys, hostileValue, (key, value) => {
        const raw = valid();
        defineField(raw.providers, key, value);
        const { outcome } = outcomeOf(() => realValidator(raw));
        if (!outcome.accepted) assertTypedRejection(outcome.error, { secrets: [], named: inventoryFields });
      }),
      parameters(SEEDS.inventory, 50),
    );
  });

  it('every problem stays one line: values quoted back carry no control characters', () => {
    const control = fc.constantFrom('\n  - forged: field "x" is fine', '\u001b[2J', '\r', '\u0000');
    fc.assert(
      fc.property(fc.constantFrom('name', 'provider'), control, (field, text) => {
        const raw = valid();
        raw.api_keys[0][field] = `x${text}`;
        const { outcome } = outcomeOf(() => realValidator(raw));
        assert.ok(!outcome.accepted);
        const problems = (outcome.error as InventoryError).problems;
        // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
        for (const p of problems) assert.ok(!/[\u0000-\u001f\u007f]/.test(p), `problem ${brief(p)}`);
      }),
      parameters(SEEDS.inventory, 20),
    );
  });
});

/** JSON text parsed, or undefined where it is not JSON. */
function jsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
