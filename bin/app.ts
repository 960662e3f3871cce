#!/usr/bin/env node
import { RekeyError } from '../lambdas/errors.js';
import { createRekeyApp } from '../lib/app.js';

// `cdk synth` / `cdk deploy` run this (cdk.json). Inventory: `-c inventory=path/to/rekey.yaml`.
try {
  createRekeyApp().app.synth();
} catch (error) {
  // A refused inventory is the user's to fix: its messages, not a stack trace.
  if (!(error instanceof RekeyError)) throw error;
  process.stderr.write(`rekey: ${error.message}\n`);
  process.exitCode = 1;
}
