import { spawn, type ChildProcess } from "child_process";
import path from "path";
import { pinToCore } from "./cpu-pin";

export interface SimulatorProcess {
  baseUrl: string;
  channelId: string;
  ccid: string;
  secret: string;
  stop(): Promise<void>;
}

/** The simulator in its own process, so that its work and memory do not count in the measured one. */
export async function startSimulatorProcess(extraArgs: string[] = []): Promise<SimulatorProcess> {
  const cli = path.resolve(__dirname, "..", "lib", "simulator", "cli.js");
  const secret = "bench-secret";
  const child: ChildProcess = spawn(process.execPath, [cli, "--port", "0", "--quiet", "--secret", secret, ...extraArgs], { stdio: ["ignore", "pipe", "inherit"] });
  // The simulator is not what is measured: it runs on another core than the measured process.
  pinToCore(child.pid, "helper");
  const baseUrl = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+) \(channel (\S+), ccid (\S+)\)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once("exit", (code) => reject(new Error(`simulator exited with ${code}: ${out}`)));
  });
  return {
    baseUrl,
    channelId: "demo-channel",
    ccid: "8b6b7e2e-3c1f-4c4e-9a51-6a1f5f0c2d10",
    secret,
    stop: () =>
      new Promise((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
