// The time axis: ticks at round local times, and no two labels alike ("Sun 6, Sun 6 …" on a 3-day chart).
// Run: npx vitest run frontend/src/ui/charts.test.ts
import { describe, expect, it } from "vitest";
import { timeTickLabels, timeTicks } from "./charts";

const HOUR = 3600;
const DAY = 24 * HOUR;
const start = Date.UTC(2026, 11, 4, 13, 17, 0) / 1000; // a Friday afternoon, off the hour

describe("time axis", () => {
  for (const [name, span] of [
    ["10 minutes", 600],
    ["30 minutes", 1800],
    ["24 h", DAY],
    ["the 48 h + 24 h forecast", 3 * DAY],
    ["the 7 d + 7 d forecast", 14 * DAY],
  ] as const) {
    it(`labels ${name} with distinct labels at round times`, () => {
      const ticks = timeTicks(start, start + span);
      expect(ticks.length).toBeGreaterThanOrEqual(2);
      expect(ticks.length).toBeLessThanOrEqual(7);
      expect(ticks[0]).toBeGreaterThanOrEqual(start);
      expect(ticks[ticks.length - 1]).toBeLessThanOrEqual(start + span);
      const step = ticks[1] - ticks[0];
      const offset = -new Date(ticks[0] * 1000).getTimezoneOffset() * 60;
      expect((ticks[0] + offset) % Math.min(step, DAY)).toBe(0);
      const labels = timeTickLabels(ticks);
      expect(new Set(labels).size).toBe(labels.length);
    });
  }

  it("names the day and the hour over three days, the day alone over two weeks", () => {
    const three = timeTickLabels(timeTicks(start, start + 3 * DAY));
    expect(three.every((label) => /\d{2}:\d{2}$/.test(label))).toBe(true);
    const fortnight = timeTickLabels(timeTicks(start, start + 14 * DAY));
    expect(fortnight.some((label) => /:/.test(label))).toBe(false);
  });
});
