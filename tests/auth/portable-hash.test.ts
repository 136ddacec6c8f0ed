import { describe, expect, it } from "vitest";
import { createArgon2Hasher } from "../../server/auth/argon2.js";
import { createPortableArgon2Hasher } from "../../server/auth/argon2-portable.js";

const native = createArgon2Hasher();
const portable = createPortableArgon2Hasher();
const password = "correct horse battery staple";

describe("argon2id on Node (native) and in Workers (JavaScript)", () => {
  it("share one PHC format: each verifies the other's hashes, at OWASP's floor", async () => {
    const fromNative = await native.hash(password);
    const fromPortable = await portable.hash(password);
    expect(fromPortable).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(await portable.verify(fromNative, password)).toBe(true);
    expect(await native.verify(fromPortable, password)).toBe(true);
    expect(await portable.verify(fromNative, "not the password")).toBe(false);
    expect(await native.verify(fromPortable, "not the password")).toBe(false);
  }, 30_000);

  it("refuse malformed hashes and costs no hash of ours has", async () => {
    expect(await portable.verify("not a hash", password)).toBe(false);
    expect(await portable.verify("$argon2i$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAA", password)).toBe(false);
    expect(await portable.verify("$argon2id$v=19$m=99999999,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAA", password)).toBe(
      false,
    );
  });
});
