import { sendgrid } from '../providers/sendgrid.js';
import { rotationHandler } from '../rotation-handler.js';

export const handler = rotationHandler(sendgrid);
