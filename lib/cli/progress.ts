/**
 * Progress lines in the order their events happened. A run's records are read every 250 ms, and one read can bring
 * several events at once — or an event whose record was written a little later than a later event's (a build's end
 * is written by the run ledger, a step's by the state machine). So each line waits HOLD_MS after it was first seen,
 * and lines are printed sorted by when their event happened (the record's own time), never before a line whose event
 * came earlier. At the run's end everything left is printed.
 *
 * Holding is measured on this machine's clock and ordering on the records' own times, so a clock that differs from
 * the server's changes neither.
 */
export const HOLD_MS = 1000;

interface Pending {
  readonly at: string;
  readonly line: string;
  readonly seen: number;
  readonly seq: number;
}

export class ProgressPrinter {
  private pending: Pending[] = [];
  private seq = 0;

  constructor(
    private readonly print: (line: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** A line for an event that happened at `at` (an ISO time; '' when the record has none: it goes last). */
  public add(at: string | undefined, line: string): void {
    this.pending.push({ at: at || '\uffff', line, seen: this.now(), seq: this.seq++ });
  }

  /** Prints the lines held long enough (all of them with `all`), and any earlier event's line with them. */
  public flush(all = false): void {
    const now = this.now();
    const due = this.pending.filter((p) => all || now - p.seen >= HOLD_MS);
    if (due.length === 0) return;
    const upTo = due.reduce((m, p) => (p.at > m ? p.at : m), '');
    const out = this.pending.filter((p) => p.at <= upTo || due.includes(p));
    this.pending = this.pending.filter((p) => !out.includes(p));
    out.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.seq - b.seq));
    for (const p of out) this.print(p.line);
  }
}
