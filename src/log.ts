import { pino, type Logger } from "pino";

/**
 * The process logger: one JSON object per line on stdout. Credentials are
 * redacted at every level, whatever a caller passes in.
 */
export function createLogger(level = process.env.REGAUTH_LOG_LEVEL ?? "info", destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: [
          "password",
          "*.password",
          "token",
          "*.token",
          "access_token",
          "*.access_token",
          "authorization",
          "*.authorization",
          "headers.authorization",
          "*.headers.authorization",
        ],
        censor: "***",
      },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

export type { Logger };
