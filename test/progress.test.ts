import { HOLD_MS, ProgressPrinter } from '../lib/cli/progress';

// `tropos workflow` reads the run's records every 250 ms; its lines must come in the order the events happened.
describe('progress lines', () => {
  const setup = () => {
    let now = 0;
    const out: string[] = [];
    const printer = new ProgressPrinter(
      (l) => out.push(l),
      () => now,
    );
    return { printer, out, tick: (ms: number) => (now += ms) };
  };

  test('one read that brings several events: printed in the order they happened, not the order read', () => {
    const { printer, out, tick } = setup();
    printer.add('2026-12-02T10:00:03.000Z', '✓ step plan done');
    printer.add('2026-12-02T10:00:02.000Z', '✓ plan vpc done');
    printer.add('2026-12-02T10:00:01.000Z', '✓ plan backend done');
    printer.flush();
    expect(out).toEqual([]); // held, in case an earlier event's record is still being written
    tick(HOLD_MS);
    printer.flush();
    expect(out).toEqual(['✓ plan backend done', '✓ plan vpc done', '✓ step plan done']);
  });

  test('an earlier event whose record came one read later still goes first', () => {
    const { printer, out, tick } = setup();
    printer.add('2026-12-02T10:00:05.000Z', '✓ step apply done');
    tick(250);
    printer.add('2026-12-02T10:00:04.000Z', '✓ apply monitoring done');
    tick(HOLD_MS - 250);
    printer.flush(); // the step's line is due; the component's event came before it: printed first, with it
    expect(out).toEqual(['✓ apply monitoring done', '✓ step apply done']);
  });

  test('a later event is not printed before its time; at the end everything is, in order', () => {
    const { printer, out, tick } = setup();
    printer.add('2026-12-02T10:00:01.000Z', '… apply vpc started');
    tick(HOLD_MS);
    printer.add('2026-12-02T10:00:09.000Z', '✓ apply vpc done');
    printer.flush();
    expect(out).toEqual(['… apply vpc started']);
    printer.add(undefined, 'a line without a time');
    printer.add('2026-12-02T10:00:10.000Z', '✓ step apply done');
    printer.flush(true);
    expect(out).toEqual(['… apply vpc started', '✓ apply vpc done', '✓ step apply done', 'a line without a time']);
  });
});
