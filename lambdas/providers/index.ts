import { InvalidInputError } from '../errors.js';
import { apiGateway } from './api-gateway.js';
import { awsIam } from './aws-iam.js';
import { cloudflare } from './cloudflare.js';
import { datadog } from './datadog.js';
import { http } from './generic-http.js';
import { openai } from './openai.js';
import { sendgrid } from './sendgrid.js';
import { stripe } from './stripe.js';
import { twilio } from './twilio.js';
import type { ProviderDefinition } from './types.js';

/** Every provider adapter rekey ships, by the name key documents and the inventory use. */
// biome-ignore lint/suspicious/noExplicitAny: each entry has its own credential and option types
export const PROVIDERS: Readonly<Record<string, ProviderDefinition<any, any>>> = {
  sendgrid,
  twilio,
  datadog,
  cloudflare,
  http,
  openai,
  stripe,
  'aws-iam': awsIam,
  'api-gateway': apiGateway,
};

export function providerNamed(
  name: string,
  where: { secretId?: string; field?: string } = {},
): ProviderDefinition {
  const provider = PROVIDERS[name];
  if (!provider) {
    throw new InvalidInputError(
      'UNKNOWN_PROVIDER',
      `unknown provider "${name}"${where.secretId ? ` in ${where.secretId}` : ''}; known providers: ${Object.keys(PROVIDERS).join(', ')}.`,
      where,
    );
  }
  return provider;
}

/** The environment variable carrying `provider`'s API base URL for functions that serve every provider. */
export function providerEndpointVariable(provider: string): string {
  return `REKEY_PROVIDER_ENDPOINT_${provider.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/**
 * Provider API base URLs from `REKEY_PROVIDER_ENDPOINT_<PROVIDER>` (sandboxes, regional APIs), for the
 * functions and commands that serve every provider.
 */
export function providerEndpointsFromEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const endpoints: Record<string, string> = {};
  for (const name of Object.keys(PROVIDERS)) {
    const url = env[providerEndpointVariable(name)];
    if (url) endpoints[name] = url;
  }
  return endpoints;
}
