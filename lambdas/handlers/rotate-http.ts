import { http } from '../providers/generic-http.js';
import { rotationHandler } from '../rotation-handler.js';

export const handler = rotationHandler(http);
