import { datadog } from '../providers/datadog.js';
import { rotationHandler } from '../rotation-handler.js';

export const handler = rotationHandler(datadog);
