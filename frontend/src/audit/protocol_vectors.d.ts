// The shape of tests/fixtures/protocol_vectors.json (written by scripts/protocol_vectors.py), for verify.test.ts.
declare module "*/protocol_vectors.json" {
  interface VectorRegisters {
    producedWh: number;
    consumedWh: number;
  }
  const vectors: {
    about: string;
    domain: { chainId: number; verifyingContract: string; separator: string };
    intervalSeconds: number;
    readings: { payload: string; digest: string; signer: string }[];
    refusedSignatures: { reading: number; signature: string; why: string }[];
    readingsHashes: { readings: number[]; readingsHash: string }[];
    registers: { readings: number[]; boundary: number; registers: VectorRegisters | null }[];
    leaves: {
      household: string;
      meter: string;
      intervalId: number;
      producedWh: number;
      consumedWh: number;
      readingsHash: string;
      leaf: string;
    }[];
    trees: { leaves: string[]; root: string; proofs: string[][] }[];
  };
  export default vectors;
}
