import { STOP_GRACE_MS } from '../limits.js';

/**
 * What each command takes, with an example: `cleanroom <command> --help` prints its entry, `cleanroom --help` the
 * list. One table, so the list and the per-command help never disagree.
 */
export interface CommandHelp {
  readonly usage: string;
  readonly what: string;
  readonly example: string;
}

export const COMMANDS: Readonly<Record<string, CommandHelp>> = {
  init: {
    usage: 'cleanroom init <dir> --member <id> --name <name> --listen <host:port> --control <port> [--endpoint <ws-url>]',
    what: "create a node: its identity key and config; prints the member entry for the manifest",
    example: 'cleanroom init ./node --member shop --name "Shop Ltd" --listen 127.0.0.1:7101 --control 7201',
  },
  manifest: {
    usage:
      'cleanroom manifest hash|verify <file> | cleanroom manifest sign <file> --node <dir> | cleanroom manifest propose <edited.json> --from <manifest or node dir> [--out <file>] | cleanroom manifest diff <old> <new> [--json] | cleanroom manifest status <file or node dir> [--json]',
    what: "print the manifest's canonical hash, check it and list missing signatures, add this node's signature; propose an edit as the next version (unsigned), say what changes between two versions, and who has signed one. A running node loads a newer version of its manifest.json once every member has signed it",
    example: 'cleanroom manifest propose ./edited.json --from ./node --out ./manifest-v2.json',
  },
  check: { usage: 'cleanroom check <dir>', what: "check every row of this node's tables against the manifest", example: 'cleanroom check ./node' },
  start: { usage: 'cleanroom start <dir>', what: 'check the tables, then run the node (peer endpoint and control interface)', example: 'cleanroom start ./node' },
  query: {
    usage: 'cleanroom query <dir> <sql> [--json] | cleanroom query <dir> --preview <sql> [--json]',
    what: 'submit a query to your own running node and print the result; --preview says what a DP query would cost and how exact it would be, and runs nothing',
    example: `cleanroom query ./node "SELECT a.category, COUNT(*) FROM advertiser a JOIN publisher p ON a.email = p.email GROUP BY a.category"`,
  },
  audit: { usage: 'cleanroom audit <dir> [--verify] [--json]', what: "print the node's audit log; --verify checks its hash chain", example: 'cleanroom audit ./node --verify' },
  budget: { usage: 'cleanroom budget <dir> [--json]', what: "print the privacy budgets of this node's tables and every charge", example: 'cleanroom budget ./node' },
  match: {
    usage: 'cleanroom match <dir> <table> --with <member> [--json]',
    what: "the share of your table's distinct keys that the member's tables hold, per join key (a count-only query each)",
    example: 'cleanroom match ./node advertiser --with publisher',
  },
  status: { usage: 'cleanroom status <dir> [--json]', what: 'whether the node of <dir> is running, and how: its member, collaboration, manifest version and crypto backend', example: 'cleanroom status ./node' },
  stop: {
    usage: 'cleanroom stop <dir>',
    what: `stop the running node of <dir>: it refuses new queries, lets running ones end (up to ${STOP_GRACE_MS / 1000} s; any still running then is aborted on every member), and exits`,
    example: 'cleanroom stop ./node',
  },
  console: { usage: 'cleanroom console <dir>', what: "print a one-time link that opens your running node's web console", example: 'cleanroom console ./node' },
};

/** The list of commands, as `cleanroom --help` prints it. */
export function usageText(): string {
  const lines = Object.values(COMMANDS).map((c) => `  ${c.usage}\n      ${c.what}`);
  return `cleanroom: a clean-room node\n\n${lines.join('\n')}\n\n  cleanroom <command> --help   one command, with an example\n  cleanroom --version          this build's version\n`;
}

/** One command's help, as `cleanroom <command> --help` prints it. */
export function commandHelp(c: CommandHelp): string {
  return `${c.usage}\n\n  ${c.what}\n\nexample:\n  ${c.example}\n`;
}
