import { connect, createServer } from "node:net";

/** Ports freePort() gave out in this process: the kernel may offer a just-released port again. */
const handedOut = new Set<number>();

/**
 * Ask the kernel for a currently free TCP port on 127.0.0.1, never one this process was given
 * before (two freePort() calls before either port is bound, as for a server and its second
 * listener, would otherwise get the same port now and then).
 *
 * The port is released before we return, so another process may grab it before the
 * caller binds it; callers that spawn servers should retry on "address already in use".
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = await kernelPort();
    if (!handedOut.has(port) || attempt >= 50) {
      handedOut.add(port);
      return port;
    }
  }
}

function kernelPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen({ host: "127.0.0.1", port: 0, exclusive: true }, () => {
      const addr = srv.address();
      if (addr === null || typeof addr === "string") {
        srv.close();
        reject(new Error("freePort: unexpected server address"));
        return;
      }
      const port = addr.port;
      srv.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:port (a server that is up). */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/**
 * Start a server on a free port, trying another when the port was taken between freePort()
 * and the server's bind (its error matches `taken`). On failure `cleanUp` runs and the error
 * is thrown. Returns the port the server is on.
 */
export async function startOnFreePort(start: (port: number) => Promise<void>, taken: RegExp, cleanUp: () => Promise<void>): Promise<number> {
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      try {
        await start(port);
        return port;
      } catch (e) {
        if (attempt >= 5 || !taken.test((e as Error).message)) throw e;
      }
    }
  } catch (e) {
    await cleanUp();
    throw e;
  }
}
