import { isAbsolute, join } from 'node:path';
import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { rotationProviders } from './function.js';
import { parseNotifications, readInventory, resolveInventory } from './inventory.js';
import { RekeyStack } from './rekey-stack.js';

/**
 * The rekey CDK app: reads the inventory named by the `inventory` context (default rekey.yaml), builds
 * the stack and registers cdk-nag's AwsSolutions checks. Environment-agnostic unless the `account` and
 * `region` context values are given, so `cdk synth` needs no credentials. Subscriptions come from the
 * inventory's `notifications` plus the `notifications` context (same shape, JSON), e.g.
 * `cdk deploy -c 'notifications={"on_call":["oncall@example.com"]}'`.
 */
export function createRekeyApp(props: AppProps = {}): { app: App; stack: RekeyStack } {
  const app = new App(props);
  const inventoryPath = String(app.node.tryGetContext('inventory') ?? 'rekey.yaml');
  const path = isAbsolute(inventoryPath) ? inventoryPath : join(process.cwd(), inventoryPath);
  const inventory = readInventory(path);
  const keys = resolveInventory(inventory, rotationProviders(), inventoryPath);
  const extra = app.node.tryGetContext('notifications');
  const notifications = parseNotifications(extra ?? {}, 'context "notifications"');
  const audiences = (field: keyof typeof notifications) => [
    ...inventory.notifications[field],
    ...notifications[field],
  ];
  const account = app.node.tryGetContext('account') as string | undefined;
  const region = app.node.tryGetContext('region') as string | undefined;
  const stack = new RekeyStack(app, String(app.node.tryGetContext('stackName') ?? 'Rekey'), {
    description: 'rekey: zero-downtime API key rotation (rotation functions, revocation, alarms)',
    ...(account || region ? { env: { account, region } } : {}),
    keys,
    subscriptions: {
      onCall: audiences('on_call'),
      security: audiences('security'),
      appTeam: audiences('app_team'),
    },
    keyStacks: inventory.key_stacks,
    providerEndpoints: Object.fromEntries(
      Object.entries(inventory.providers).map(([name, settings]) => [name, settings.endpoint]),
    ),
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
