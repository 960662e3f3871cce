/** One `rekey` subcommand. `run` returns the process exit code; output goes through `out`/`err`. */
export interface Command {
  name: string;
  /** One line for `rekey --help`. */
  summary: string;
  /** Full usage text for `rekey <name> --help`. */
  usage: string;
  run(args: string[], io: CommandIO): Promise<number>;
}

export interface CommandIO {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Reads all of standard input (for keys piped in, never passed as arguments). */
  stdin: () => Promise<string>;
  isTTY: boolean;
}
