/**
 * `rekey/cdk`: rekey's CDK constructs, for composing rekey into your own CDK app around your inventory.
 * Peer dependencies: aws-cdk-lib and constructs; esbuild to bundle the functions at synth.
 *
 * ```ts
 * const app = new App();
 * new RekeyStack(app, 'Rekey', { keys: loadInventory('rekey.yaml', rotationProviders()) });
 * ```
 *
 * `RekeyStack` is the whole of rekey in one stack; `ManagedKey`, `RekeyFunction`, `Revocation`,
 * `LeaseTable`, `AlertTopics` and `KeyRoles` are its pieces. The repository's own app (`createRekeyApp`,
 * with cdk-nag) is not exported: it needs cdk-nag, which is not a dependency of the package.
 */
export { AlertTopics, type AlertTopicsProps, type Audience } from './alert-topics.js';
export {
  handlerPath,
  PROJECT_ROOT,
  RekeyFunction,
  type RekeyFunctionProps,
  RUNTIME,
  rotationProviders,
} from './function.js';
export {
  type ApiKeyEntry,
  ApiKeySchema,
  adapterNameOf,
  type Inventory,
  InventoryError,
  InventorySchema,
  KEY_AGE_FACTOR,
  keyRouteOf,
  loadInventory,
  type ManagedKeyPlan,
  type Notifications,
  parseInventory,
  parseNotifications,
  type RotationScheduleEntry,
  RotationScheduleEntrySchema,
  readInventory,
  resolveInventory,
} from './inventory.js';
export {
  KeyRoles,
  type KeyRolesProps,
  keyRoleNames,
  REVOCATION_ACTIONS,
  ROTATION_ACTIONS,
} from './key-roles.js';
export { LeaseTable, type LeaseTableProps } from './lease-table.js';
export {
  cdkRolesPattern,
  ManagedKey,
  type ManagedKeyProps,
  PLACEHOLDER,
  PROTECTED_SECRET_ACTIONS,
} from './managed-key.js';
export {
  grantProviderAccess,
  IAM_KEY_ACTIONS,
  IAM_REVOCATION_ACTIONS,
  type KeyPurpose,
  type ProviderAccess,
  providerAccess,
} from './provider-access.js';
export { AUTH_FAILURE_SPIKE_FACTOR, RekeyStack, type RekeyStackProps } from './rekey-stack.js';
export { Revocation, type RevocationProps } from './revocation.js';
export {
  type RotationSchedule,
  rateFromFrequency,
  rotationWindow,
  ScheduleError,
  scheduleFromExpression,
} from './schedule.js';
