import { stripe } from '../providers/stripe.js';
import { rotationHandler } from '../rotation-handler.js';

export const handler = rotationHandler(stripe);
