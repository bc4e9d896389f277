import { parseArgs } from "node:util";
import { hashPassword } from "../authn/bcrypt.js";

async function readAll(stream: NodeJS.ReadStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Prompt with echo turned off, as htpasswd does. */
async function prompt(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  let out = "";
  try {
    for await (const chunk of stdin) {
      for (const ch of (chunk as Buffer).toString("utf8")) {
        if (ch === "\r" || ch === "\n") return out;
        if (ch === "\u0003") throw new Error("interrupted");
        if (ch === "\u007f") out = out.slice(0, -1);
        else out += ch;
      }
    }
    return out;
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write("\n");
  }
}

/** `regauth hash [--cost N]`: a `$2y$` bcrypt hash as `htpasswd -nB` makes, for the users section. */
export async function hash(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { cost: { type: "string", default: "10" } } });
  const cost = Number(values.cost);
  if (!Number.isInteger(cost) || cost < 4 || cost > 31) {
    process.stderr.write("regauth hash: --cost must be a whole number from 4 to 31 (10 is a good default)\n");
    return 2;
  }
  let password: string;
  if (process.stdin.isTTY) {
    password = await prompt("Password: ");
    if ((await prompt("Again: ")) !== password) {
      process.stderr.write("regauth hash: the passwords differ\n");
      return 1;
    }
  } else {
    password = (await readAll(process.stdin)).replace(/\r?\n$/, "");
  }
  if (password === "") {
    process.stderr.write("regauth hash: the password is empty\n");
    return 1;
  }
  process.stdout.write(`${await hashPassword(password, cost)}\n`);
  return 0;
}
