// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ICommunityRegistry} from "./ICommunityRegistry.sol";
import {IEnergyToken} from "./IEnergyToken.sol";

/// @title IEnergyMarket
/// @notice Escrowed limit orders and per-interval settlement of a community's
/// metered energy.
///
/// The market is the central counterparty of a uniform-price call auction:
/// in each interval every seller delivers energy to the market and every buyer
/// takes it from the market, all at one clearing price. A fill is therefore one
/// order's allocation (order, amount), not a seller-buyer pair, and an interval
/// is valid only when the energy sold equals the energy bought.
///
/// The off-chain solver chooses the economically right price and allocations;
/// the market checks only what makes a settlement safe: limits, escrow,
/// windows, metered caps, conservation, and that nothing is settled twice.
///
/// Who was metered and how much is the oracle's word, committed to by the
/// readings root; auditors check it against the signed readings and the
/// registry.
///
/// Money never leaves the market during settlement: sellers are credited to
/// their market account and withdraw when they like (pull payments), so a
/// blocklisted or reverting wallet cannot stall the community's settlement.
/// @dev Naming, settled before any public deployment:
/// - Custom errors are `Market<Problem>(offending values)`, like
///   OpenZeppelin's `ERC20...` and `AccessControl...`: the oracle and the
///   browser decode the errors of every contract against one table, where a
///   bare `InsufficientBalance` or `ZeroAddress` would not say which contract
///   refused, or would collide with another contract's error.
/// - Immutables are UPPER_CASE in the implementation, like constants, because
///   both are fixed in the bytecode and cost no storage read. Their getters
///   keep the mixedCase ABI names (`registry()`, `energyToken()`, `euro()`,
///   `intervalSeconds()`) that the backend, the indexer and the browser call:
///   a getter is ABI, an immutable is an implementation detail.
/// - Getters of constants are UPPER_CASE like the constants (`RECLAIM_GRACE_INTERVALS()`, as
///   OpenZeppelin's `DEFAULT_ADMIN_ROLE()`), hence their func-name-mixedcase
///   exceptions.
interface IEnergyMarket {
    /// @notice Which way an order trades: a bid buys energy, an ask sells it.
    enum Side {
        Bid,
        Ask
    }

    /// @notice A resting limit order.
    /// @dev Two storage slots. Bids escrow euros in `escrow`; asks escrow
    /// `amountWh - filledWh` tokens, held by the market. `validFrom` and
    /// `validTo` are the first and last interval ids it may trade in;
    /// `limitPrice` is in payment units per kWh; `escrow` is 0 for asks.
    struct Order {
        address owner;
        uint40 validFrom;
        uint40 validTo;
        Side side;
        bool open;
        uint64 amountWh;
        uint64 filledWh;
        uint64 limitPrice;
        uint64 escrow;
    }

    /// @notice A household's market account.
    /// @dev One slot: its euro balance in the market (auto-buy budget plus
    /// sale proceeds) and its standing auto orders' limit prices (0 = off).
    struct Account {
        uint128 balance;
        uint64 autoSellPrice;
        uint64 autoBuyPrice;
    }

    /// @notice A household's metered energy over one interval, from the
    /// difference of its cumulative registers.
    struct Entry {
        address household;
        uint64 producedWh;
        uint64 consumedWh;
    }

    /// @notice One order's allocation at the clearing price. `orderId == 0`
    /// names the standing auto order of `entries[autoEntry].household`, on the
    /// side its metered net position gives (surplus: auto-sell; deficit:
    /// auto-buy). `autoEntry` is read only for auto fills.
    struct Fill {
        uint64 orderId;
        uint32 autoEntry;
        uint64 amountWh;
    }

    /// @notice An interval's settlement: its readings root and price, and the
    /// running totals of a chunked settlement.
    /// @dev `lastHousehold` is the last entry settled so far: entries must grow
    /// strictly across chunks.
    struct IntervalState {
        bytes32 readingsRoot;
        uint64 clearingPrice;
        uint32 chunks;
        bool closed;
        address lastHousehold;
        uint64 surplusWh;
        uint64 coveredWh;
        uint64 soldWh;
        uint64 boughtWh;
        uint64 gridImportWh;
    }

    /// @notice A household placed a limit order and its escrow was taken.
    /// @param orderId the new order's id
    /// @param owner the household
    /// @param side bid or ask
    /// @param limitPrice payment units per kWh
    /// @param amountWh energy in Wh
    /// @param validFrom first interval id it may trade in
    /// @param validTo last interval id it may trade in
    /// @param escrow euros escrowed for a bid; 0 for an ask, which escrows amountWh tokens
    event OrderPlaced(
        uint256 indexed orderId,
        address indexed owner,
        Side side,
        uint256 limitPrice,
        uint256 amountWh,
        uint40 validFrom,
        uint40 validTo,
        uint256 escrow
    );

    /// @notice An order was cancelled or reclaimed, and what it still escrowed went back.
    /// @param orderId the order
    /// @param owner the household refunded
    /// @param refundedEuro euros returned (bids)
    /// @param refundedWh tokens returned, in Wh (asks)
    event OrderClosed(uint256 indexed orderId, address indexed owner, uint256 refundedEuro, uint256 refundedWh);

    /// @notice A household set or turned off (limitPrice 0) a standing auto order.
    /// @param household the household
    /// @param side Ask for auto-sell, Bid for auto-buy
    /// @param limitPrice payment units per kWh; 0 is off
    event AutoOrderSet(address indexed household, Side side, uint256 limitPrice);

    /// @notice Euros went into a household's market account.
    /// @param household the household
    /// @param amount payment base units
    event Deposited(address indexed household, uint256 amount);

    /// @notice Euros left a household's market account.
    /// @param household the household
    /// @param amount payment base units
    event Withdrawn(address indexed household, uint256 amount);

    /// @notice One order's allocation was settled at the clearing price.
    /// @param intervalId the interval
    /// @param orderId the order, or 0 for a standing auto order
    /// @param household the order's owner
    /// @param side bid or ask
    /// @param amountWh energy in Wh
    /// @param value euros paid or received
    event Filled(
        uint64 indexed intervalId,
        uint256 indexed orderId,
        address indexed household,
        Side side,
        uint256 amountWh,
        uint256 value
    );

    /// @notice One household's metered energy was settled.
    /// @param intervalId the interval
    /// @param household the household
    /// @param producedWh metered production
    /// @param consumedWh metered consumption
    /// @param creditedWh unsold surplus minted to it as credit
    /// @param burnedWh held tokens burned against its deficit
    /// @param gridImportWh deficit left for the grid
    event HouseholdSettled(
        uint64 indexed intervalId,
        address indexed household,
        uint256 producedWh,
        uint256 consumedWh,
        uint256 creditedWh,
        uint256 burnedWh,
        uint256 gridImportWh
    );

    /// @notice One chunk of a chunked settlement was applied.
    /// @param intervalId the interval
    /// @param chunk the chunk's number, from 1
    /// @param entries how many households it settled
    /// @param fills how many fills it applied
    event ChunkSettled(uint64 indexed intervalId, uint32 chunk, uint256 entries, uint256 fills);

    /// @notice An interval is settled, in one transaction or closed after its chunks.
    /// @param intervalId the interval
    /// @param readingsRoot Merkle root of the interval's reading leaves
    /// @param clearingPrice payment units per kWh
    /// @param surplusWh metered surplus of all households
    /// @param coveredWh deficit covered by bought or held tokens
    /// @param tradedWh energy sold (equal to energy bought)
    /// @param gridImportWh deficit left for the grid
    /// @param chunks how many transactions it took
    event IntervalSettled(
        uint64 indexed intervalId,
        bytes32 readingsRoot,
        uint256 clearingPrice,
        uint256 surplusWh,
        uint256 coveredWh,
        uint256 tradedWh,
        uint256 gridImportWh,
        uint32 chunks
    );

    /// @notice Only the registry's oracle may settle.
    /// @param caller the account that tried
    error MarketNotOracle(address caller);

    /// @notice Only an active household of the registry may trade or deposit.
    /// @param caller the account that tried
    error MarketNotHousehold(address caller);

    /// @notice Only an order's owner may cancel it.
    /// @param orderId the order
    /// @param caller the account that tried
    error MarketNotOrderOwner(uint256 orderId, address caller);

    /// @notice An order, deposit or withdrawal of nothing.
    error MarketZeroAmount();

    /// @notice An auto order's limit outside the current tariff version's envelope [lowest feed-in, highest retail].
    /// @param price the price given
    /// @param feedInPrice the lowest feed-in bound of the version in force
    /// @param retailPrice the highest retail bound of the version in force
    error MarketPriceOutOfTariffs(uint256 price, uint256 feedInPrice, uint256 retailPrice);

    /// @notice An order's limit (against its window's first interval) or a clearing price outside the
    /// bounds of the interval's tariff band.
    /// @param price the price given
    /// @param intervalId the interval whose band applies
    /// @param feedInPrice the band's lowest price
    /// @param retailPrice the band's highest price
    error MarketPriceOutOfBand(uint256 price, uint64 intervalId, uint256 feedInPrice, uint256 retailPrice);

    /// @notice An order window that ends before it starts or starts in the past.
    /// @param validFrom the first interval given
    /// @param validTo the last interval given
    /// @param currentInterval the interval the chain is in
    error MarketInvalidWindow(uint40 validFrom, uint40 validTo, uint64 currentInterval);

    /// @notice No such order was ever placed.
    /// @param orderId the id given
    error MarketUnknownOrder(uint256 orderId);

    /// @notice The order was already cancelled, reclaimed or filled away.
    /// @param orderId the order
    error MarketOrderNotOpen(uint256 orderId);

    /// @notice The order may still trade, or its last interval awaits settlement.
    /// @param orderId the order
    /// @param validTo its last interval
    /// @param currentInterval the interval the chain is in
    error MarketOrderNotExpired(uint256 orderId, uint40 validTo, uint64 currentInterval);

    /// @notice The household's market account holds less than is needed.
    /// @param household the household
    /// @param requested euros needed
    /// @param available euros held
    error MarketInsufficientBalance(address household, uint256 requested, uint256 available);

    /// @notice An interval can be settled only after it ended.
    /// @param intervalId the interval
    /// @param currentInterval the interval the chain is in
    error MarketIntervalNotEnded(uint64 intervalId, uint64 currentInterval);

    /// @notice The interval is already settled (or its chunked settlement began).
    /// @param intervalId the interval
    error MarketIntervalAlreadySettled(uint64 intervalId);

    /// @notice closeInterval without any chunk settled.
    /// @param intervalId the interval
    error MarketIntervalNotOpen(uint64 intervalId);

    /// @notice A chunk's root or price differs from the first chunk's.
    /// @param intervalId the interval
    /// @param readingsRoot the root given
    /// @param clearingPrice the price given
    error MarketChunkMismatch(uint64 intervalId, bytes32 readingsRoot, uint256 clearingPrice);

    /// @notice Entries must be sorted by household, ascending, across chunks too.
    /// @param index the entry out of order
    /// @param household its household
    /// @param previous the household before it
    error MarketEntriesNotSorted(uint256 index, address household, address previous);

    /// @notice The clearing price is not a multiple of the registry's PRICE_TICK.
    /// @param clearingPrice the price given
    /// @param tick the tick
    error MarketClearingPriceNotOnTick(uint256 clearingPrice, uint256 tick);

    /// @notice A fill of nothing.
    /// @param fillIndex its index in `fills`
    error MarketZeroFill(uint256 fillIndex);

    /// @notice An auto fill names an entry beyond the chunk's entries.
    /// @param fillIndex its index in `fills`
    /// @param autoEntry the entry it names
    /// @param entries how many entries there are
    error MarketAutoEntryOutOfRange(uint256 fillIndex, uint256 autoEntry, uint256 entries);

    /// @notice An auto fill for a household whose auto order on that side is off.
    /// @param household the household
    /// @param side the side its metered position gives
    error MarketAutoOrderOff(address household, Side side);

    /// @notice The clearing price is worse than the order's limit.
    /// @param orderId the order, or 0 for an auto order
    /// @param household the order's owner
    /// @param limitPrice its limit
    /// @param clearingPrice the price given
    error MarketPriceBeyondLimit(uint256 orderId, address household, uint256 limitPrice, uint256 clearingPrice);

    /// @notice Auto fills trade more than the household's metered surplus or deficit.
    /// @param household the household
    /// @param amountWh the fill
    /// @param meteredLeftWh metered energy not yet auto-traded
    error MarketAutoFillExceedsMetered(address household, uint256 amountWh, uint256 meteredLeftWh);

    /// @notice The interval is outside the order's window.
    /// @param orderId the order
    /// @param intervalId the interval
    /// @param validFrom its first interval
    /// @param validTo its last interval
    error MarketOrderNotValidInInterval(uint256 orderId, uint64 intervalId, uint40 validFrom, uint40 validTo);

    /// @notice The fill is more than the order has left.
    /// @param orderId the order
    /// @param amountWh the fill
    /// @param remainingWh what the order has left
    error MarketFillExceedsOrder(uint256 orderId, uint256 amountWh, uint256 remainingWh);

    /// @notice A bid's fill costs more than it escrows.
    /// @param orderId the order
    /// @param value the fill's cost
    /// @param escrow euros the bid still escrows
    error MarketFillExceedsEscrow(uint256 orderId, uint256 value, uint256 escrow);

    /// @notice Energy sold differs from energy bought, or euros paid from euros received.
    /// @param intervalId the interval
    /// @param soldWh energy sold
    /// @param boughtWh energy bought
    /// @param paid euros buyers paid
    /// @param received euros sellers received
    error MarketValueNotConserved(uint64 intervalId, uint256 soldWh, uint256 boughtWh, uint256 paid, uint256 received);

    /// @notice Places a limit order for the intervals validFrom..validTo.
    /// A bid escrows ceil(amountWh * limitPrice / 1000) euros, an ask escrows
    /// amountWh tokens; both need an ERC-20 approval first. Only active households.
    /// @param side bid or ask
    /// @param limitPrice payment units per kWh, within the tariffs
    /// @param amountWh energy in Wh
    /// @param validFrom first interval id, not in the past
    /// @param validTo last interval id
    /// @return orderId the new order's id
    function placeOrder(Side side, uint256 limitPrice, uint256 amountWh, uint40 validFrom, uint40 validTo)
        external
        returns (uint256 orderId);

    /// @notice Closes an open order and refunds what it still escrows. A
    /// settlement that was computed with this order before the cancel reverts
    /// with MarketOrderNotOpen, and the oracle clears the interval again without it.
    /// @param orderId the order, owned by the caller
    function cancelOrder(uint256 orderId) external;

    /// @notice Anyone may return an expired order's escrow to its owner, once
    /// its last interval is settled (or RECLAIM_GRACE_INTERVALS have passed
    /// without a settlement).
    /// @param orderId the order
    function reclaimExpired(uint256 orderId) external;

    /// @notice Standing order to sell each interval's own metered surplus at
    /// no less than `limitPrice` per kWh; 0 turns it off.
    /// @param limitPrice payment units per kWh, within the tariffs, or 0
    function setAutoSell(uint256 limitPrice) external;

    /// @notice Standing order to buy each interval's own metered deficit at no
    /// more than `limitPrice` per kWh, paid from the deposited balance; 0 turns it off.
    /// @param limitPrice payment units per kWh, within the tariffs, or 0
    function setAutoBuy(uint256 limitPrice) external;

    /// @notice Deposits euros into the caller's market account (the auto-buy
    /// budget); needs an approval first. Only active households.
    /// @param amount payment base units
    function deposit(uint256 amount) external;

    /// @notice Withdraws deposited euros and sale proceeds. Open to former
    /// (deactivated) households too: their money is theirs.
    /// @param amount payment base units
    function withdraw(uint256 amount) external;

    /// @notice Settles a whole interval in one transaction: records the
    /// readings root, applies the fills at the clearing price, mints each
    /// household's unsold surplus as credit, burns held tokens against each
    /// deficit and reports the rest as grid import. Only the oracle, once per interval.
    /// @param intervalId an interval that has ended
    /// @param readingsRoot Merkle root of the interval's reading leaves
    /// @param entries one per household with readings, sorted by address, ascending
    /// @param fills the orders' allocations
    /// @param clearingPrice uniform price per kWh, a multiple of PRICE_TICK
    /// within the tariffs; ignored (use 0) when there are no fills
    function settleInterval(
        uint64 intervalId,
        bytes32 readingsRoot,
        Entry[] calldata entries,
        Fill[] calldata fills,
        uint256 clearingPrice
    ) external;

    /// @notice One part of a settlement too large for one transaction. Every
    /// chunk repeats the root and price; households continue in ascending
    /// order from the previous chunk, and auto fills name entries of their own
    /// chunk. The market may be out of balance between chunks; closeInterval
    /// requires it balanced. Only the oracle.
    /// @param intervalId an interval that has ended
    /// @param readingsRoot Merkle root of the interval's reading leaves, the same in every chunk
    /// @param entries this chunk's households, sorted, after the previous chunk's
    /// @param fills this chunk's allocations
    /// @param clearingPrice the same in every chunk
    function settleChunk(
        uint64 intervalId,
        bytes32 readingsRoot,
        Entry[] calldata entries,
        Fill[] calldata fills,
        uint256 clearingPrice
    ) external;

    /// @notice Ends a chunked settlement once the energy sold equals the energy
    /// bought. Only the oracle.
    /// @param intervalId the interval
    function closeInterval(uint64 intervalId) external;

    /// @notice How long after its last interval an unsettled order may be
    /// reclaimed by anyone (96 x 15 min = one day at the default interval).
    /// Until then only the interval's settlement or its owner can close it,
    /// so nobody can pull an order out from under a pending settlement.
    /// @return the grace, in intervals
    function RECLAIM_GRACE_INTERVALS() external view returns (uint64); // solhint-disable-line func-name-mixedcase

    /// @notice The community's registry: households, oracle role, tariffs.
    /// @return the registry
    function registry() external view returns (ICommunityRegistry);

    /// @notice The kWh token the market mints, escrows and burns.
    /// @return the token
    function energyToken() external view returns (IEnergyToken);

    /// @notice The payment token (6 decimals, EURC-like).
    /// @return the token
    function euro() external view returns (IERC20);

    /// @notice The registry's interval length, read once at deployment.
    /// @return seconds per interval
    function intervalSeconds() external view returns (uint64);

    /// @notice The id the next order will get.
    /// @return the id
    function nextOrderId() external view returns (uint64);

    /// @notice The id of the interval the chain's clock is in.
    /// @return floor(block.timestamp / intervalSeconds)
    function currentInterval() external view returns (uint64);

    /// @notice An order; its owner is zero for an id never used.
    /// @param orderId the order
    /// @return the order
    function getOrder(uint256 orderId) external view returns (Order memory);

    /// @notice A household's market account.
    /// @param household the household
    /// @return its balance and auto orders
    function getAccount(address household) external view returns (Account memory);

    /// @notice An interval's settlement state.
    /// @param intervalId the interval
    /// @return its root, price and totals
    function getInterval(uint64 intervalId) external view returns (IntervalState memory);

    /// @notice Whether an interval is settled and closed.
    /// @param intervalId the interval
    /// @return true once closed
    function isSettled(uint64 intervalId) external view returns (bool);

    /// @notice Checks one household's leaf against the interval's readings root
    /// (OpenZeppelin's double-hashed leaves, sorted-pair tree).
    /// @param intervalId a settled interval
    /// @param leaf the leaf hash
    /// @param proof the sibling hashes from the leaf up
    /// @return true when the proof leads to the root
    function verifyLeaf(uint64 intervalId, bytes32 leaf, bytes32[] calldata proof) external view returns (bool);
}
