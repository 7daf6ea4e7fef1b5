import assert from "assert/strict";
import { usage } from "../../lib/simulator/cli";
import { SIMULATOR_DEFAULTS } from "../../lib/simulator";

describe("the simulator's --help", () => {
  it("shows every default, the secret's included: it is public, for trials on this machine", () => {
    const text = usage();
    assert.match(text, new RegExp(`--secret .*default ${SIMULATOR_DEFAULTS.secret}\\)`));
    assert.match(text, /--port .*default 8085\)/);
    assert.match(text, new RegExp(`--channel-id .*default ${SIMULATOR_DEFAULTS.channelId}\\)`));
    assert.match(text, /--message-limit .*NEXUS_SIM_MESSAGE_LIMIT, default 10000\)/);
  });
});
