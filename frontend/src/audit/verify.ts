// The auditor's checks, in the browser (docs/archive.md "What an auditor checks"), with viem only:
// every meter signature, the listed readings, the registers, readingsHash, each leaf, the Merkle root
// and proofs, and the root and energies against the chain's own events. Pure: data in, differences out.
import {
  type Address,
  concat,
  encodeAbiParameters,
  getAddress,
  type Hex,
  hashTypedData,
  isAddress,
  keccak256,
  recoverAddress,
} from "viem";
import type { MessageKey } from "../i18n";

export interface ArchiveReading {
  meter: string;
  seq: number;
  ts: number;
  producedWh: number;
  consumedWh: number;
  powerW: number;
  signature: string;
}
export interface ArchiveLeaf {
  household: string;
  meter: string;
  producedWh: number;
  consumedWh: number;
  startRegisters: { producedWh: number; consumedWh: number };
  endRegisters: { producedWh: number; consumedWh: number };
  previousInterval: number | null;
  readingsHash: string;
  leaf: string;
  proof: string[];
  readings: ArchiveReading[];
}
export interface ArchiveDocument {
  version: number;
  chainId: number;
  registry: string;
  market: string;
  intervalId: number;
  intervalSeconds: number;
  start: number;
  end: number;
  readingsRoot: string;
  clearingPrice: number | null;
  settlementTxs: string[];
  leaves: ArchiveLeaf[];
}

/** What the chain says about the interval (IntervalSettled, HouseholdSettled), read by the caller. */
export interface ChainFacts {
  readingsRoot: Hex | null; // null: not settled on-chain
  households: Map<string, { producedWh: bigint; consumedWh: bigint }>; // lower-case address ->
  meterRegistered: (household: Address, meter: Address) => boolean;
}

export interface Difference {
  key: MessageKey;
  vars: Record<string, string | number>;
}
export interface LeafResult {
  household: string;
  meter: string;
  producedWh: number;
  consumedWh: number;
  readings: number;
  signaturesOk: boolean;
  proofOk: boolean;
  chainOk: boolean | null;
  ok: boolean;
}
export interface AuditResult {
  ok: boolean;
  differences: Difference[];
  leaves: LeafResult[];
  readings: number;
  root: string;
}

const READING_TYPES = {
  MeterReading: [
    { name: "meter", type: "address" },
    { name: "seq", type: "uint64" },
    { name: "ts", type: "uint64" },
    { name: "producedWh", type: "uint64" },
    { name: "consumedWh", type: "uint64" },
    { name: "powerW", type: "uint32" },
  ],
} as const;
const LEAF_PARAMETERS = [
  { type: "address" },
  { type: "address" },
  { type: "uint64" },
  { type: "uint64" },
  { type: "uint64" },
  { type: "bytes32" },
] as const;

export interface MeterDomain {
  chainId: number;
  verifyingContract: Address;
}

export function readingDigest(reading: ArchiveReading, domain: MeterDomain): Hex {
  return hashTypedData({
    domain: {
      name: "Vatio Meter",
      version: "1",
      chainId: domain.chainId,
      verifyingContract: domain.verifyingContract,
    },
    types: READING_TYPES,
    primaryType: "MeterReading",
    message: {
      meter: getAddress(reading.meter),
      seq: BigInt(reading.seq),
      ts: BigInt(reading.ts),
      producedWh: BigInt(reading.producedWh),
      consumedWh: BigInt(reading.consumedWh),
      powerW: reading.powerW,
    },
  });
}

// secp256k1's group order: a signature with s above half of it has a twin (n - s, flipped v) that recovers the
// same key, so backend/protocol/readings.py takes only low s (EIP-2), and so does this verifier.
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** The address that signed a reading; throws, as backend/protocol/readings.py does, for a signature that is not
 * 65 bytes, has v outside {27, 28, 0, 1}, r or s out of range, or a high s (malleable). */
export async function recoverReadingSigner(reading: ArchiveReading, domain: MeterDomain): Promise<Address> {
  const signature = reading.signature;
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) throw new Error("signature must be 65 bytes of hex");
  const r = BigInt(signature.slice(0, 66));
  const s = BigInt(`0x${signature.slice(66, 130)}`);
  const v = Number.parseInt(signature.slice(130), 16);
  if (![27, 28, 0, 1].includes(v)) throw new Error(`v must be 27 or 28 (or 0 or 1), got ${v}`);
  if (r === 0n || r >= SECP256K1_N) throw new Error("r is out of range");
  if (s === 0n || s > SECP256K1_N / 2n)
    throw new Error("s is zero or above secp256k1n/2 (malleable signature)");
  return recoverAddress({ hash: readingDigest(reading, domain), signature: signature as Hex });
}

/** keccak256 of the readings' EIP-712 digests in (meter, seq) order (backend/protocol/readings.py readings_hash). */
export function readingsHash(readings: ArchiveReading[], domain: MeterDomain): Hex {
  const sorted = [...readings].sort(
    (a, b) => a.meter.toLowerCase().localeCompare(b.meter.toLowerCase()) || a.seq - b.seq,
  );
  return keccak256(sorted.length ? concat(sorted.map((reading) => readingDigest(reading, domain))) : "0x");
}

/** leaf = keccak256(keccak256(abi.encode(household, meter, intervalId, producedWh, consumedWh, readingsHash))). */
export function leafHash(
  household: string,
  meter: string,
  intervalId: number,
  producedWh: number,
  consumedWh: number,
  hash: Hex,
): Hex {
  return keccak256(
    keccak256(
      encodeAbiParameters(LEAF_PARAMETERS, [
        getAddress(household),
        getAddress(meter),
        BigInt(intervalId),
        BigInt(producedWh),
        BigInt(consumedWh),
        hash,
      ]),
    ),
  );
}

function hashPair(a: Hex, b: Hex): Hex {
  const [x, y] = a.toLowerCase() < b.toLowerCase() ? [a, b] : [b, a];
  return keccak256(concat([x, y]));
}

/** The root of OpenZeppelin's sorted-pair tree over the sorted leaf hashes; an odd node is carried up. */
export function merkleRoot(leaves: Hex[]): Hex {
  if (!leaves.length) throw new Error("a Merkle tree needs at least one leaf");
  let level = [...leaves].map((leaf) => leaf.toLowerCase() as Hex).sort();
  while (level.length > 1) {
    const parents: Hex[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) parents.push(hashPair(level[i], level[i + 1]));
    if (level.length % 2) parents.push(level[level.length - 1]);
    level = parents;
  }
  return level[0];
}

export function verifyProof(proof: Hex[], root: Hex, leaf: Hex): boolean {
  return (
    proof.reduce((computed, sibling) => hashPair(computed, sibling), leaf).toLowerCase() ===
    root.toLowerCase()
  );
}

interface Registers {
  producedWh: number;
  consumedWh: number;
}

/** backend/protocol/energy.py register_at: interpolate between the readings around `boundary`, floored. */
export function registerAt(readings: ArchiveReading[], boundary: number): Registers | null {
  let before: ArchiveReading | null = null;
  for (const reading of readings) {
    if (reading.ts <= boundary) {
      before = reading;
      continue;
    }
    if (!before) return null;
    const span = BigInt(reading.ts - before.ts);
    const elapsed = BigInt(boundary - before.ts);
    const at = (from: number, to: number) =>
      Number(BigInt(from) + ((BigInt(to) - BigInt(from)) * elapsed) / span);
    return {
      producedWh: at(before.producedWh, reading.producedWh),
      consumedWh: at(before.consumedWh, reading.consumedWh),
    };
  }
  return before ? { producedWh: before.producedWh, consumedWh: before.consumedWh } : null;
}

const fmt = (registers: Registers) => `${registers.producedWh}/${registers.consumedWh} Wh`;
const same = (a: Registers, b: Registers) => a.producedWh === b.producedWh && a.consumedWh === b.consumedWh;

/** Check one leaf; `previousLeaf` is the same meter's leaf in the archive of previousInterval (undefined: unavailable). */
export async function checkLeaf(
  leaf: ArchiveLeaf,
  document: ArchiveDocument,
  domain: MeterDomain,
  previousLeaf: ArchiveLeaf | null | undefined,
): Promise<{ differences: Difference[]; signaturesOk: boolean; proofOk: boolean }> {
  const differences: Difference[] = [];
  const who = leaf.household;
  const add = (key: MessageKey, vars: Record<string, string | number> = {}) =>
    differences.push({ key, vars: { household: who, ...vars } });
  const start = document.intervalId * document.intervalSeconds;
  const end = start + document.intervalSeconds;
  const meter = getAddress(leaf.meter);
  let signaturesOk = true;

  for (const reading of leaf.readings) {
    if (!isAddress(reading.meter) || getAddress(reading.meter) !== meter) {
      add("diff.wrongMeter", { seq: reading.seq, actual: reading.meter, meter });
      signaturesOk = false;
      continue;
    }
    try {
      const signer = await recoverReadingSigner(reading, domain);
      if (signer !== meter) {
        add("diff.signature", { seq: reading.seq, signer, meter });
        signaturesOk = false;
      }
    } catch {
      add("diff.badSignature", { seq: reading.seq });
      signaturesOk = false;
    }
  }

  const readings = leaf.readings;
  const inOrder = readings.every(
    (r, i) =>
      i === 0 ||
      (r.seq > readings[i - 1].seq &&
        r.ts > readings[i - 1].ts &&
        r.producedWh >= readings[i - 1].producedWh &&
        r.consumedWh >= readings[i - 1].consumedWh),
  );
  if (!inOrder) {
    add("diff.order");
  } else {
    const atEnd = registerAt(readings, end);
    if (!atEnd) add("diff.noReadingBeforeEnd");
    else if (!same(atEnd, leaf.endRegisters))
      add("diff.endRegisters", { claimed: fmt(leaf.endRegisters), computed: fmt(atEnd) });
    const after = readings.map((r) => r.ts > end);
    if (after.filter(Boolean).length > 1 || (after.some(Boolean) && !after[after.length - 1]))
      add("diff.afterEnd");
    const anchors = readings.filter((r) => r.ts <= start).length;
    if (leaf.previousInterval !== null && anchors !== 1) add("diff.anchor", { count: anchors });
  }

  const delta = {
    producedWh: leaf.endRegisters.producedWh - leaf.startRegisters.producedWh,
    consumedWh: leaf.endRegisters.consumedWh - leaf.startRegisters.consumedWh,
  };
  if (!same(delta, leaf)) add("diff.energy", { claimed: fmt(leaf), computed: fmt(delta) });

  if (leaf.previousInterval === null) {
    const first = readings[0];
    if (first && !same(leaf.startRegisters, first))
      add("diff.startFirst", { claimed: fmt(leaf.startRegisters), computed: fmt(first) });
  } else if (previousLeaf === undefined || previousLeaf === null) {
    add("diff.previousMissing", { previous: leaf.previousInterval });
  } else if (!same(leaf.startRegisters, previousLeaf.endRegisters)) {
    add("diff.startPrevious", {
      claimed: fmt(leaf.startRegisters),
      computed: fmt(previousLeaf.endRegisters),
      previous: leaf.previousInterval,
    });
  }

  const hash = readingsHash(readings, domain);
  if (hash.toLowerCase() !== leaf.readingsHash.toLowerCase())
    add("diff.readingsHash", { claimed: leaf.readingsHash, computed: hash });
  const computedLeaf = leafHash(
    leaf.household,
    leaf.meter,
    document.intervalId,
    leaf.producedWh,
    leaf.consumedWh,
    leaf.readingsHash as Hex,
  );
  if (computedLeaf.toLowerCase() !== leaf.leaf.toLowerCase())
    add("diff.leaf", { claimed: leaf.leaf, computed: computedLeaf });
  const proofOk = verifyProof(leaf.proof as Hex[], document.readingsRoot as Hex, computedLeaf);
  if (!proofOk) add("diff.proof");
  return { differences, signaturesOk, proofOk };
}

function checkShape(document: unknown): string | null {
  const doc = document as ArchiveDocument;
  if (!doc || typeof doc !== "object") return "not a JSON object";
  for (const key of ["chainId", "intervalId", "intervalSeconds", "start", "end"] as const) {
    if (!Number.isInteger(doc[key])) return `${key} is not an integer`;
  }
  if (typeof doc.readingsRoot !== "string" || !/^0x[0-9a-f]{64}$/i.test(doc.readingsRoot))
    return "readingsRoot is not 32 bytes of hex";
  if (!Array.isArray(doc.leaves) || !doc.leaves.length) return "leaves must be a non-empty list";
  for (const leaf of doc.leaves) {
    if (!isAddress(leaf?.household ?? "") || !isAddress(leaf?.meter ?? ""))
      return "a leaf has no valid household or meter";
    if (!Array.isArray(leaf.readings) || !leaf.readings.length || !Array.isArray(leaf.proof))
      return "a leaf has no readings or proof";
    if (
      ![
        leaf.producedWh,
        leaf.consumedWh,
        leaf.startRegisters?.producedWh,
        leaf.endRegisters?.consumedWh,
      ].every(Number.isInteger)
    ) {
      return "a leaf has a non-integer energy";
    }
  }
  return null;
}

/**
 * Verify an archive document against the chain. `previousLeaf(interval, meter)` returns the meter's leaf in an
 * earlier archive (null when that archive is not available).
 */
export async function auditInterval(
  documentText: string,
  domain: MeterDomain,
  chain: ChainFacts,
  previousLeaf: (intervalId: number, meter: string) => Promise<ArchiveLeaf | null>,
): Promise<AuditResult> {
  const differences: Difference[] = [];
  let document: ArchiveDocument;
  try {
    document = JSON.parse(documentText) as ArchiveDocument;
  } catch (error) {
    return {
      ok: false,
      differences: [{ key: "diff.archiveUnreadable", vars: { detail: (error as Error).message } }],
      leaves: [],
      readings: 0,
      root: "",
    };
  }
  const shape = checkShape(document);
  if (shape)
    return {
      ok: false,
      differences: [{ key: "diff.archiveUnreadable", vars: { detail: shape } }],
      leaves: [],
      readings: 0,
      root: "",
    };

  if (document.chainId !== domain.chainId)
    differences.push({ key: "diff.chainId", vars: { archive: document.chainId, expected: domain.chainId } });
  if (!isAddress(document.registry) || getAddress(document.registry) !== domain.verifyingContract) {
    differences.push({
      key: "diff.registry",
      vars: { archive: String(document.registry), expected: domain.verifyingContract },
    });
  }
  const start = document.intervalId * document.intervalSeconds;
  if (document.start !== start || document.end !== start + document.intervalSeconds) {
    differences.push({ key: "diff.startEnd", vars: { start: document.start, end: document.end } });
  }
  const keys = document.leaves.map((leaf) => BigInt(leaf.household));
  if (keys.some((key, i) => i > 0 && key <= keys[i - 1])) differences.push({ key: "diff.sorted", vars: {} });

  const leaves: LeafResult[] = [];
  for (const leaf of document.leaves) {
    const previous =
      leaf.previousInterval === null ? null : await previousLeaf(leaf.previousInterval, leaf.meter);
    const checked = await checkLeaf(
      leaf,
      document,
      domain,
      leaf.previousInterval === null ? null : (previous ?? undefined),
    );
    const onChain = chain.households.get(leaf.household.toLowerCase());
    let chainOk: boolean | null = null;
    if (chain.readingsRoot !== null) {
      if (!onChain) {
        checked.differences.push({ key: "diff.chainMissing", vars: { household: leaf.household } });
        chainOk = false;
      } else {
        chainOk =
          onChain.producedWh === BigInt(leaf.producedWh) && onChain.consumedWh === BigInt(leaf.consumedWh);
        if (!chainOk) {
          checked.differences.push({
            key: "diff.chainEnergy",
            vars: {
              household: leaf.household,
              archive: `${leaf.producedWh}/${leaf.consumedWh} Wh`,
              chain: `${onChain.producedWh}/${onChain.consumedWh} Wh`,
            },
          });
        }
      }
      if (!chain.meterRegistered(getAddress(leaf.household), getAddress(leaf.meter))) {
        checked.differences.push({
          key: "diff.meterNotRegistered",
          vars: { household: leaf.household, meter: leaf.meter },
        });
      }
    }
    differences.push(...checked.differences);
    leaves.push({
      household: getAddress(leaf.household),
      meter: getAddress(leaf.meter),
      producedWh: leaf.producedWh,
      consumedWh: leaf.consumedWh,
      readings: leaf.readings.length,
      signaturesOk: checked.signaturesOk,
      proofOk: checked.proofOk,
      chainOk,
      ok: checked.differences.length === 0,
    });
  }
  const inArchive = new Set(document.leaves.map((leaf) => leaf.household.toLowerCase()));
  for (const household of chain.households.keys()) {
    if (!inArchive.has(household))
      differences.push({ key: "diff.chainExtra", vars: { household: getAddress(household) } });
  }

  const recomputed = merkleRoot(
    document.leaves.map((leaf) =>
      leafHash(
        leaf.household,
        leaf.meter,
        document.intervalId,
        leaf.producedWh,
        leaf.consumedWh,
        leaf.readingsHash as Hex,
      ),
    ),
  );
  if (recomputed !== document.readingsRoot.toLowerCase()) {
    differences.push({
      key: "diff.rootRecomputed",
      vars: { computed: recomputed, archive: document.readingsRoot },
    });
  }
  if (chain.readingsRoot === null) {
    differences.push({ key: "diff.notOnChain", vars: { id: document.intervalId } });
  } else if (chain.readingsRoot.toLowerCase() !== document.readingsRoot.toLowerCase()) {
    differences.push({
      key: "diff.rootChain",
      vars: { archive: document.readingsRoot, chain: chain.readingsRoot },
    });
  }
  return {
    ok: differences.length === 0,
    differences,
    leaves,
    readings: document.leaves.reduce((sum, leaf) => sum + leaf.readings.length, 0),
    root: document.readingsRoot,
  };
}
