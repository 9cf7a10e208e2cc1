import { describe, expect, it } from 'vitest';
import { activeEntry, parseSchedule } from '../../src/throttle/schedule.js';

// 2026-11-23 is a Monday. Dates are built in local time, as the schedule reads them.
const at = (day: number, hh: number, mm = 0) => new Date(2026, 10, 22 + day, hh, mm); // day 0 = Sunday 22nd

describe('parseSchedule / activeEntry', () => {
  it('a single rate applies all the time', () => {
    const s = parseSchedule('100Mbit');
    expect(activeEntry(s, at(3, 12)).rate).toBe(12_500_000);
  });

  it('daily entries switch at their times and wrap round midnight', () => {
    const s = parseSchedule('08:00,40Mbit 18:00,100Mbit');
    expect(activeEntry(s, at(1, 7, 59)).text).toBe('18:00,100Mbit');
    expect(activeEntry(s, at(1, 8, 0)).text).toBe('08:00,40Mbit');
    expect(activeEntry(s, at(1, 17, 59)).text).toBe('08:00,40Mbit');
    expect(activeEntry(s, at(1, 18, 0)).text).toBe('18:00,100Mbit');
    expect(activeEntry(s, at(2, 3, 0)).text).toBe('18:00,100Mbit');
  });

  it('weekday entries hold until the next entry on the weekly timeline', () => {
    const s = parseSchedule('08:00,40Mbit 18:00,100Mbit Sat-00:00,off');
    expect(activeEntry(s, at(5, 23, 59)).text).toBe('18:00,100Mbit'); // Friday night
    expect(activeEntry(s, at(6, 0, 0)).rate).toBe(Infinity); // Saturday 00:00
    expect(activeEntry(s, at(6, 7, 59)).rate).toBe(Infinity);
    expect(activeEntry(s, at(6, 8, 0)).text).toBe('08:00,40Mbit'); // the daily entry takes over
  });

  it('a weekly-only timetable wraps from the end of the week to its start', () => {
    const s = parseSchedule('Mon-08:00,10MB Fri-18:00,off');
    expect(activeEntry(s, at(0, 12)).rate).toBe(Infinity); // Sunday: still Friday's entry
    expect(activeEntry(s, at(1, 9)).rate).toBe(10_000_000);
  });

  it.each([
    ['08:00', '08:00'],
    ['25:00,1MB', '25:00,1MB'],
    ['Fun-08:00,1MB', 'Fun-08:00,1MB'],
    ['08:00,fast 09:00,1MB', '08:00,fast'],
    ['100', '100'],
  ])('%j is refused naming the bad token', (text, token) => {
    expect(() => parseSchedule(text)).toThrow(`invalid timetable entry "${token}"`);
  });
});
