import { awsIam } from '../providers/aws-iam.js';
import { rotationHandler } from '../rotation-handler.js';

export const handler = rotationHandler(awsIam);
