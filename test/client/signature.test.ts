import assert from "assert/strict";
import { signBody, verifySignature } from "../../lib/client";

describe("signature (HMAC-SHA1, X-Hub-Signature)", () => {
  // RFC 2202, section 3: test cases for HMAC-SHA1.
  const rfc2202: Array<{ key: Buffer; data: Buffer; digest: string }> = [
    { key: Buffer.alloc(20, 0x0b), data: Buffer.from("Hi There"), digest: "b617318655057264e28bc0b6fb378c8ef146be00" },
    { key: Buffer.from("Jefe"), data: Buffer.from("what do ya want for nothing?"), digest: "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79" },
    { key: Buffer.alloc(20, 0xaa), data: Buffer.alloc(50, 0xdd), digest: "125d7342b9ac11cd91a39af48aa17b4f63f175d3" },
    {
      key: Buffer.from("0102030405060708090a0b0c0d0e0f10111213141516171819", "hex"),
      data: Buffer.alloc(50, 0xcd),
      digest: "4c9007f4026250c6bc8414f9bf50c86c2d7235da",
    },
    { key: Buffer.alloc(20, 0x0c), data: Buffer.from("Test With Truncation"), digest: "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04" },
    { key: Buffer.alloc(80, 0xaa), data: Buffer.from("Test Using Larger Than Block-Size Key - Hash Key First"), digest: "aa4ae5e15272d00e95705637ce8a3b55ed402112" },
    {
      key: Buffer.alloc(80, 0xaa),
      data: Buffer.from("Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data"),
      digest: "e8e99d0f45237d786d6bbaa7965c7808bbff1a91",
    },
  ];
  rfc2202.forEach((c, i) => {
    it(`matches RFC 2202 test case ${i + 1}`, () => {
      assert.equal(signBody(c.data, c.key), `sha1=${c.digest}`);
    });
  });

  it("matches the hex vectors in nexus-api.md", () => {
    assert.equal(signBody('{"text":"hello"}', "my-channel-secret"), "sha1=c4a1c472164d955f2fcfc87a7536263516ca64d3");
    assert.equal(signBody("", "my-channel-secret"), "sha1=41f3e4cbd72ab1945d0e06c229b99927b56eb65c");
    assert.equal(signBody(Buffer.alloc(0), "my-channel-secret"), "sha1=41f3e4cbd72ab1945d0e06c229b99927b56eb65c");
  });

  it("matches the base64 vector in nexus-api.md", () => {
    assert.equal(signBody('{"text":"hello"}', "my-channel-secret", "base64"), "sha1=xKHEchZNlV8vz8h6dTYmNRbKZNM=");
  });

  it("signs bytes, not a re-serialisation of them", () => {
    assert.notEqual(signBody('{"text": "hello"}', "my-channel-secret"), signBody('{"text":"hello"}', "my-channel-secret"));
  });

  describe("verification", () => {
    const body = Buffer.from('{"text":"hello"}');
    const secret = "my-channel-secret";
    it("accepts hex in lower and upper case, and base64", () => {
      assert.equal(verifySignature(body, "sha1=c4a1c472164d955f2fcfc87a7536263516ca64d3", secret), true);
      assert.equal(verifySignature(body, "sha1=C4A1C472164D955F2FCFC87A7536263516CA64D3", secret), true);
      assert.equal(verifySignature(body, "sha1=xKHEchZNlV8vz8h6dTYmNRbKZNM=", secret), true);
    });
    it("refuses a wrong, missing, truncated or malformed signature", () => {
      assert.equal(verifySignature(body, "sha1=c4a1c472164d955f2fcfc87a7536263516ca64d4", secret), false);
      assert.equal(verifySignature(body, undefined, secret), false);
      assert.equal(verifySignature(body, "", secret), false);
      assert.equal(verifySignature(body, "sha1=c4a1c472", secret), false);
      assert.equal(verifySignature(body, "c4a1c472164d955f2fcfc87a7536263516ca64d3", secret), false);
      assert.equal(verifySignature(body, "sha256=c4a1c472164d955f2fcfc87a7536263516ca64d3", secret), false);
      assert.equal(verifySignature(body, ["sha1=c4a1c472164d955f2fcfc87a7536263516ca64d3"], secret), false);
    });
    it("refuses a signature made with another secret or over other bytes", () => {
      assert.equal(verifySignature(body, signBody(body, "other-secret"), secret), false);
      assert.equal(verifySignature('{"text": "hello"}', signBody(body, secret), secret), false);
    });
  });
});
