export { startLoopbackAws } from '../../local/aws/server.js';
export { CapturedLogs } from '../../local/captured-logs.js';
