// The tropos CLI: a client of the Tropos HTTP API (a running `tropos serve`, or one started for the command).
import { main } from '../lib/cli/main';

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
