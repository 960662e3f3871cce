/**
 * How rekey's functions retry AWS calls. Secrets Manager allows 50 writes per second per account and Region,
 * shared by PutSecretValue and UpdateSecretVersionStage (and 50 RotateSecret), so rotations that run at once
 * meet ThrottlingException; the SDK's default of 3 attempts gives up within a second. Its standard mode backs
 * off from 500 ms on throttling, doubling up to 20 s: 8 attempts ride out a burst in well under a step's
 * timeout (AWS SDKs and Tools reference guide, "Retry behavior").
 */
export const FUNCTION_AWS_RETRY = { maxAttempts: 8 } as const;
