/**
 * rekey's application-side client: read rekey-managed API keys that survive rotation and vault outages.
 * No CDK and no provider code in this graph — only the Secrets Manager SDK client and zod.
 */
export {
  type ApiKey,
  isAuthFailure,
  KeyClient,
  type KeyClientOptions,
  type KeyConfigurationCode,
  KeyConfigurationError,
  KeyRejectedError,
  KeyUnavailableError,
} from './key-client.js';
export { type RekeyMiddlewareOptions, rekeyKeys } from './middy.js';
