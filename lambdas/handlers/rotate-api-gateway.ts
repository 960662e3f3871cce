import { apiGateway } from '../providers/api-gateway.js';
import { rotationHandler } from '../rotation-handler.js';

export const handler = rotationHandler(apiGateway);
