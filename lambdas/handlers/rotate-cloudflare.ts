import { cloudflare } from '../providers/cloudflare.js';
import { rotationHandler } from '../rotation-handler.js';

export const handler = rotationHandler(cloudflare);
