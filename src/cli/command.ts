/** One `image-spool <name>` command. */
export interface Command {
  name: string;
  /** One line for `image-spool --help`. */
  summary: string;
  /** The full `image-spool <name> --help` text, starting with `usage:`. */
  usage: string;
  /** Resolves with the exit code; throws UsageError (exit 2) or SpoolError. */
  run(args: string[]): Promise<number>;
}
