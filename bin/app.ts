#!/usr/bin/env node
import { createRekeyApp } from '../lib/app.js';

// `cdk synth` / `cdk deploy` run this (cdk.json). Inventory: `-c inventory=path/to/rekey.yaml`.
createRekeyApp().app.synth();
