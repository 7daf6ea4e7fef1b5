/**
 * The settings of every Node-RED this project starts for itself (the demo, tests, benchmarks): on
 * loopback, credentials unencrypted (they hold only test and simulator secrets), and nothing that would
 * reach the network or ask the user (tours, the palette manager's catalogue, telemetry, projects).
 */
export function localNodeRedSettings(port: number): Record<string, unknown> {
  return {
    uiHost: "127.0.0.1",
    uiPort: port,
    flowFile: "flows.json",
    credentialSecret: false,
    editorTheme: { tours: false, palette: { catalogues: [] }, projects: { enabled: false } },
    diagnostics: { enabled: false },
    telemetry: { enabled: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
  };
}
