/**
 * The cold-start reference: a handler that imports only the Secrets Manager client, builds it at module
 * scope (as rekey's functions build theirs) and reads one secret per invocation. The bench bundles it
 * exactly as lib/function.ts bundles rekey's functions and compares their import times with its own.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

const sm = new SecretsManagerClient({});

export const handler = async (event: { secretId: string }) => {
  const out = await sm.send(new GetSecretValueCommand({ SecretId: event.secretId }));
  return { versionId: out.VersionId };
};
