import { INTERNAL_GATEWAY_DESCRIPTION } from '../../local/rehearsal/providers.js';

/** Inventory entries of the fleet-rotation tests: `n` keys of the internal gateway (the HTTP adapter). */
export function gatewayEntries(n: number) {
  return Array.from({ length: n }, (_, i) => ({
    name: `gateway-${i + 1}`,
    provider: 'Internal API Gateway',
    adapter: 'http',
    vault_path: `prod/gateway/key-${i + 1}`,
    rotation_frequency: '30d',
    provider_api: 'https://gateway.internal/admin/keys',
    rotator_secret: 'rekey/rotator/gateway',
    options: INTERNAL_GATEWAY_DESCRIPTION,
    imported: true,
  }));
}

/** `n` SendGrid keys, sharing one rotator credential (one SendGrid account). */
export function sendgridEntries(n: number) {
  return Array.from({ length: n }, (_, i) => ({
    name: `sendgrid-${i + 1}`,
    provider: 'SendGrid',
    vault_path: `prod/sendgrid/key-${i + 1}`,
    rotation_frequency: '30d',
    rotator_secret: 'rekey/rotator/sendgrid',
    imported: true,
  }));
}
