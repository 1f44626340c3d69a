// The one-line reason shown when a trainer process exits before its run got going (no vscode).
// The manager's log tail holds its own header ("[trapo] <time> start: <command>"), then the trainer's output, then the
// manager's "[trapo] trainer exited with code 2 | signal SIGKILL" line. The message says how it ended and the
// trainer's own last line, which for a refused config names the key.

const EXIT_LINE = /^\[trapo\] trainer (exited with (?:code -?\d+|signal \w+))/;
const HEADER_LINE = /^\[trapo\] \d{4}-\d\d-\d\dT\S+ (?:start|resume): /;

export function trainerExitMessage(lastLines: readonly string[], code: number | null): string {
  const exitLine = [...lastLines]
    .reverse()
    .map((l) => EXIT_LINE.exec(l))
    .find((m) => m !== null);
  const how = exitLine ? exitLine[1] : `exited${code !== null ? ` with code ${code}` : ''}`;
  const own = lastLines.filter((l) => !EXIT_LINE.test(l) && !HEADER_LINE.test(l)).at(-1);
  return `the trainer ${how}${own ? `: ${own}` : ' before writing any output'}`;
}
