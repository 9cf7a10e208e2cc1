import { parseRate, RateParseError, type BytesPerSecond } from './rate.js';

/**
 * rclone-style timetables: `"08:00,40Mbit 18:00,100Mbit Sat-00:00,off"`, or a single rate `"100Mbit"`.
 * Entries without a weekday repeat every day. All entries are laid on one weekly timeline (local time, so
 * `TZ` is honoured); the active entry is the latest one at or before now, wrapping round from the end of
 * the week. So above, Saturday is unlimited from 00:00 until the daily 08:00 entry takes over again.
 */
export interface ScheduleEntry {
  /** 0 = Sunday ... 6 = Saturday; null = every day. */
  day: number | null;
  minute: number;
  rate: BytesPerSecond;
  text: string;
}

export interface Schedule {
  text: string;
  entries: readonly ScheduleEntry[];
}

export class ScheduleParseError extends Error {
  constructor(readonly token: string, reason: string) {
    super(`invalid timetable entry "${token}": ${reason}`);
    this.name = 'ScheduleParseError';
  }
}

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const MINUTES_PER_WEEK = 7 * 24 * 60;

export function parseSchedule(text: string): Schedule {
  const tokens = text.trim().split(/\s+/).filter(Boolean);
  if (tokens.length === 0) throw new ScheduleParseError(text, 'empty');
  if (tokens.length === 1 && !tokens[0]?.includes(',')) {
    return { text, entries: [{ day: null, minute: 0, rate: rateOf(tokens[0] as string, tokens[0] as string), text: tokens[0] as string }] };
  }
  return { text, entries: tokens.map(parseEntry) };
}

function parseEntry(token: string): ScheduleEntry {
  const match = /^(?:([A-Za-z]{3})-)?(\d{1,2}):(\d{2}),(.+)$/.exec(token);
  if (!match) throw new ScheduleParseError(token, 'expected [Day-]HH:MM,RATE such as 08:00,40Mbit or Sat-00:00,off');
  const [, dayText, hh, mm, rateText] = match as unknown as [string, string | undefined, string, string, string];
  const day = dayText === undefined ? null : DAYS.indexOf(dayText.toLowerCase());
  if (day === -1) throw new ScheduleParseError(token, `unknown weekday "${dayText}" (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)`);
  const hours = Number(hh);
  const minutes = Number(mm);
  if (hours > 23 || minutes > 59) throw new ScheduleParseError(token, `time ${hh}:${mm} is not a time of day`);
  return { day, minute: hours * 60 + minutes, rate: rateOf(rateText, token), text: token };
}

function rateOf(rateText: string, token: string): BytesPerSecond {
  try {
    return parseRate(rateText);
  } catch (err) {
    if (err instanceof RateParseError) throw new ScheduleParseError(token, err.message);
    throw err;
  }
}

/** The rate in force at `now` (local time). */
export function activeEntry(schedule: Schedule, now: Date): ScheduleEntry {
  const nowWeekMinute = now.getDay() * 1440 + now.getHours() * 60 + now.getMinutes();
  let best: { entry: ScheduleEntry; distance: number } | null = null;
  for (const entry of schedule.entries) {
    for (const day of entry.day === null ? [0, 1, 2, 3, 4, 5, 6] : [entry.day]) {
      const at = day * 1440 + entry.minute;
      // How long ago this occurrence started, wrapping round the week.
      const distance = (nowWeekMinute - at + MINUTES_PER_WEEK) % MINUTES_PER_WEEK;
      if (!best || distance < best.distance) best = { entry, distance };
    }
  }
  return (best as { entry: ScheduleEntry }).entry;
}

/** Milliseconds until the next minute boundary: when a different entry can first become active. */
export function msToNextMinute(now: Date): number {
  return 60_000 - (now.getSeconds() * 1000 + now.getMilliseconds());
}
