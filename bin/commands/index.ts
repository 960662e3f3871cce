import { importCommand } from './import.js';
import { local } from './local.js';
import { rehearse } from './rehearse.js';
import { rollback } from './rollback.js';
import { rotate } from './rotate.js';
import { status } from './status.js';
import type { Command } from './types.js';

/** Every `rekey` subcommand, in the order `rekey --help` lists them. */
export const COMMANDS: Command[] = [rehearse, local, status, importCommand, rotate, rollback];
