// What a command may touch of its process, passed in so every command reads the same way
// (and the dispatch table could be driven from a test without spawning).
export interface Io {
  readonly env: NodeJS.ProcessEnv;
  /** Text for people and scripts: results, help. */
  readonly stdout: (text: string) => void;
  /** Errors only; never a secret. */
  readonly stderr: (text: string) => void;
  /** Everything on stdin up to its end, at most `maxBytes`; undefined when there is more. */
  readonly readStdin: (maxBytes: number) => Promise<string | undefined>;
  readonly stdinIsTerminal: boolean;
}

export const processIo = (): Io => ({
  env: process.env,
  stdout: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  stderr: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  readStdin: async (maxBytes) => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) return undefined;
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  },
  stdinIsTerminal: process.stdin.isTTY,
});
