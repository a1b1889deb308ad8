// The browser's verifier against the shared test vectors (tests/fixtures/protocol_vectors.json), which
// backend/protocol computed: both implementations agree byte for byte on every EIP-712 digest, recovered
// signer, readings hash, register at a boundary, leaf hash, Merkle root and proof.
// Run: npx vitest run frontend/src/audit
import { domainSeparator, getAddress, type Hex, recoverAddress } from "viem";
import { describe, expect, it } from "vitest";
import vectors from "../../../tests/fixtures/protocol_vectors.json";
import {
  type ArchiveReading,
  leafHash,
  merkleRoot,
  type MeterDomain,
  readingDigest,
  readingsHash,
  recoverReadingSigner,
  registerAt,
  verifyProof,
} from "./verify";

const domain: MeterDomain = {
  chainId: vectors.domain.chainId,
  verifyingContract: getAddress(vectors.domain.verifyingContract),
};
const readings = vectors.readings.map((vector) => JSON.parse(vector.payload) as ArchiveReading);
const pick = (indices: number[]) => indices.map((index) => readings[index]);

describe("readings", () => {
  it("has the domain separator", () => {
    expect(domainSeparator({ domain: { name: "Vatio Meter", version: "1", ...domain } })).toBe(
      vectors.domain.separator,
    );
  });

  it.each(vectors.readings.map((vector, index) => [index, vector] as const))(
    "reading %i: the EIP-712 digest and the recovered signer",
    async (index, vector) => {
      const digest = readingDigest(readings[index], domain);
      expect(digest).toBe(vector.digest);
      expect(await recoverAddress({ hash: digest, signature: readings[index].signature as Hex })).toBe(
        vector.signer,
      );
      expect(await recoverReadingSigner(readings[index], domain)).toBe(vector.signer);
    },
  );

  it.each(vectors.refusedSignatures.map((vector) => [vector.why, vector] as const))(
    "refuses a signature where %s, as backend/protocol does",
    async (_, vector) => {
      const reading = { ...readings[vector.reading], signature: vector.signature };
      await expect(recoverReadingSigner(reading, domain)).rejects.toThrow();
    },
  );

  it("hashes each set of readings, in any order, the empty set included", () => {
    expect(vectors.readingsHashes.some((vector) => vector.readings.length === 0)).toBe(true);
    for (const vector of vectors.readingsHashes)
      expect(readingsHash(pick(vector.readings), domain)).toBe(vector.readingsHash);
  });

  it("gives the registers at interval boundaries, floored, and none before the first reading", () => {
    expect(vectors.registers.some((vector) => vector.registers === null)).toBe(true);
    for (const vector of vectors.registers) {
      expect(registerAt(pick(vector.readings), vector.boundary)).toEqual(vector.registers);
    }
  });
});

describe("leaves and the readings root", () => {
  it.each(vectors.leaves.map((vector, index) => [index, vector] as const))(
    "leaf %i hashes alike",
    (_, vector) => {
      expect(
        leafHash(
          vector.household,
          vector.meter,
          vector.intervalId,
          vector.producedWh,
          vector.consumedWh,
          vector.readingsHash as Hex,
        ),
      ).toBe(vector.leaf);
    },
  );

  it.each(vectors.trees.map((vector) => [vector.leaves.length, vector] as const))(
    "a tree of %i leaves has the same root, and every proof leads to it",
    (_, vector) => {
      expect(merkleRoot(vector.leaves as Hex[])).toBe(vector.root);
      vector.leaves.forEach((leaf, index) => {
        expect(verifyProof(vector.proofs[index] as Hex[], vector.root as Hex, leaf as Hex)).toBe(true);
      });
    },
  );

  it("refuses a proof with a wrong node or for another root", () => {
    const tree = vectors.trees[vectors.trees.length - 1];
    const proof = [...tree.proofs[1]] as Hex[];
    proof[0] = `0x${"00".repeat(32)}`;
    expect(verifyProof(proof, tree.root as Hex, tree.leaves[1] as Hex)).toBe(false);
    expect(verifyProof(tree.proofs[1] as Hex[], vectors.trees[0].root as Hex, tree.leaves[1] as Hex)).toBe(
      false,
    );
  });
});
