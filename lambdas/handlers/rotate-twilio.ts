import { twilio } from '../providers/twilio.js';
import { rotationHandler } from '../rotation-handler.js';

export const handler = rotationHandler(twilio);
