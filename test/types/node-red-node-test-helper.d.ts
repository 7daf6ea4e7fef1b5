declare module "node-red-node-test-helper" {
  import type { Server } from "http";
  interface TestHelper {
    init(nodeRedRuntime: string, userSettings?: Record<string, unknown>): void;
    load(nodes: unknown, flow: object[], credentials?: Record<string, unknown>, cb?: () => void): Promise<void>;
    unload(): Promise<void>;
    getNode(id: string): any; // eslint-disable-line @typescript-eslint/no-explicit-any
    clearFlows(): Promise<void>;
    startServer(done?: () => void): Promise<void>;
    stopServer(done?: () => void): Promise<void>;
    url(): string;
    request(): any; // eslint-disable-line @typescript-eslint/no-explicit-any
    settings(settings: Record<string, unknown>): void;
    log(): { args: unknown[][]; getCalls(): Array<{ args: unknown[] }> };
    _server: Server;
    _RED: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  }
  const helper: TestHelper;
  export = helper;
}
