import { openai } from '../providers/openai.js';
import { rotationHandler } from '../rotation-handler.js';

export const handler = rotationHandler(openai);
