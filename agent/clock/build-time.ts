/**
 * When this agent was built: no correct clock reads earlier, so it is the lowest floor of the
 * clock check (clock-floor.ts). The value committed here is the release date; `npm run build`
 * (scripts/stamp-build.mjs) rewrites it in the compiled dist/agent/clock/build-time.js with the
 * real build time. It is not a file date: npm installs files dated 1985-10-26.
 */
export const BUILD_TIME = '2026-11-29T00:00:00.000Z';
